"""Baseline of Harlow's task (Exp 6, Section 3.2.2): a scripted ideal player.

`IdealHarlow` reads the ground truth of the gaze and the phase (the task's
`task_info`, which evaluation passes to policies whose `uses_task_info` is
True) and plays as well as the task allows: it turns to the cross and holds
still on it, picks an image at random on trial 1, and from trial 2 on chooses
the image that paid on trial 1 or, after a loss, the other one (win-stay /
lose-shift on the image; as the sides are redrawn every trial, this is the
rewarded side, which it reads from the ground truth). During the interval it
turns back towards the cross. It is the ceiling for reward and for steps per
trial (its trial 1 is at chance, like any player's).
"""

from typing import Dict

import numpy as np

from environments import harlow as harlow_lib

LEFT, RIGHT, NOOP = harlow_lib.LEFT, harlow_lib.RIGHT, harlow_lib.NOOP


class IdealHarlow:
  """Scripted ideal player of a `HarlowTask` (any action repeat)."""

  name = 'ideal'
  uses_task_info = True

  def __init__(self, config: harlow_lib.HarlowConfig, repeat: int = 1):
    self.num_actions = 3
    self.image_degrees = config.image_degrees
    # Stop turning this close to the cross: what a decision's turn and the
    # momentum's carry could add stays within the fixation window.
    self.hold_zone = max(config.fixation_tolerance - config.turn_degrees *
                         (repeat * config.momentum + 1), 0.25)

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {'first_pick': np.full(batch_size, -1)}

  def step(self, inputs, state, rng):
    info = inputs['task_info']
    gaze = np.asarray(info['gaze'], np.float64)
    phase = np.asarray(info['phase'])
    trial = np.asarray(info['trial'])
    first_pick = state['first_pick'].copy()
    # A new episode (no previous action) draws its trial-1 pick afresh.
    new = (np.asarray(inputs['prev_action']) < 0) | (first_pick < 0)
    first_pick[new] = rng.integers(0, 2, int(new.sum()))
    side = np.where(trial == 0, first_pick, np.asarray(info['rewarded_side']))
    choice_target = np.where(side == 1, self.image_degrees, -self.image_degrees)
    choosing = phase == harlow_lib.CHOICE
    target = np.where(choosing, choice_target, 0.0)
    error = target - gaze
    action = np.where(error > 0, RIGHT, LEFT)
    settled = ~choosing & (np.abs(error) <= self.hold_zone)
    action = np.where(settled, NOOP, action).astype(np.int32)
    return action, {'first_pick': first_pick}
