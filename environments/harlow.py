"""Harlow's one-shot visual task (Exp 6, Section 3.2.2; Harlow 1949).

A simulated screen subtending 65 degrees of visual angle; the agent's square RGB
view (84x84 by default) turns with its gaze. Actions: 0 = turn left, 1 = turn
right, 2 = no-op. This core is stepped in *primitive* steps; the paper's agent
decides every 4 of them (`ActionRepeat(core, 4)`, `--action_repeat=4`, which
sums the rewards).

A trial:
  fixation  the screen is blank (grey) but for a red cross at its centre.
            Holding the gaze within `fixation_tolerance` (3.5 deg) of the cross
            for `fixation_hold` (4) consecutive primitive steps pays 0.2.
            Holding means not turning (`hold_still`): only no-op steps count,
            so a gaze sweeping through the window does not fixate (at 1.1
            deg per step a sweep spends 6 steps in the 7-deg window).
  choice    the cross disappears; the episode's two images (34x34 at 84 px)
            appear left and right of centre, sides drawn at random per trial.
            Bringing the gaze within `selection_tolerance` (7 deg) of an image's
            centre selects it: +1 for the episode's rewarded image, -1 for the
            other. Both vanish.
  interval  a blank screen for `intertrial_interval` (10) primitive steps; then
            the next trial's cross appears.
An episode ends after `num_trials` (10) selections or `max_steps` (3600)
primitive steps, whichever comes first. Each episode draws a pair of images
(with replacement, never the same image twice in a pair) from its image set
and which of the two pays; the pair is the same on every trial.

Geometry (`HarlowConfig`; every count is in primitive steps). The view spans
the same 65 degrees as the screen, so a centred gaze sees exactly the screen
(84 px / 65 deg = 1.29 px per degree); beyond the screen's edges the view is
black, and the gaze turns through the full 360 degrees. The images' centres sit
+-25 px (+-19.35 deg) from the screen's centre, so that at 84 px the images
fill columns 0-33 and 50-83: they touch the screen's edges, with a 16 px gap
holding the cross between them. The gaze turns `turn_degrees` (1.1) per
primitive step, i.e. the paper's "approximately 4.4 degrees" per decision of 4
primitive steps (at 4.4 per primitive step one decision would turn 17.6 deg
and the two images, 38.7 deg apart, would be a decision apart). Momentum: the
turn of a step is `momentum * previous turn + (1 - momentum) * 1.1 * direction`
with `momentum` 0.25, so a turn starts slower, overshoots a little after a
no-op, and moves at most 1.1 deg per step. Together these make the paper's
statements hold: from anywhere inside the 3.5 deg fixation window, an image
centre is more than 19.35 - 3.5 - 7 = 8.85 deg from being selected, more than
8 primitive steps of at most 1.1 deg, so selecting takes at least 9 primitive
steps, i.e. at least three decisions; starting on the cross it takes exactly
three (11 primitive steps of the 12). A trial at perfect play takes about
7-8 decisions: 3 to select, ~3 to turn back during the interval, ~1-2 to hold.

Rendering is one gather per frame: the view's columns are looked up in a
bank of precomputed screen columns (background, cross, every image column;
RGBA bytes packed in float32), indexed from the gaze and the phase, then transposed
to rows [H, W] and unpacked to RGB. Under
`ActionRepeat` only the decision's final frame is rendered (`observe`).
`resolution` renders the same scene smaller (e.g. 42: 17 px images at +-12.5
px): positions and sizes scale, angles stay.

Observation: `pixels` uint8 [resolution, resolution, 3] only (the paper's input
for Exp 6 is a, r, x). Ground truth (`task_info`): `rewarded_side` (0 left, 1
right, this trial), `trial` (completed selections), `phase` (0 fixation, 1
choice, 2 interval), `gaze` (degrees in [-180, 180)), `images` (the pair's
indices in the image set; the first is the rewarded one).

Metrics (summed per episode): `trials`, `correct`, `first_correct` (trial 1
correct), `later_trials`, `later_correct` (trials 2-10), `later_trials_after_loss`,
`later_correct_after_loss` (trials 2-10 of episodes whose trial 1 was wrong),
`fixations` (completed), `fixation_timeouts` (episodes that ran out of steps
during a fixation), `frames` (primitive steps).
"""

import dataclasses
from typing import Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from environments import core
from environments import images as images_lib

LEFT, RIGHT, NOOP = 0, 1, 2
FIXATION, CHOICE, INTERVAL = 0, 1, 2
SCREEN_GREY = 128
CROSS_RGB = (255, 0, 0)


@dataclasses.dataclass(frozen=True)
class HarlowConfig:
  """The task's geometry and timing. Angles in degrees; counts in primitive
  steps (one agent decision is `action_repeat` of them, 4 in the paper).

  Attributes:
    resolution: side of the square view in pixels (84 in the paper).
    screen_degrees: width of the screen and of the view (65 in the paper).
    image_size: image side in pixels at resolution 84 (34 in the paper);
      scaled with the resolution.
    image_offset: distance of each image centre from the screen's centre in
      pixels at resolution 84 (25: the images touch the screen's edges).
    turn_degrees: turn of one primitive step at full speed (4.4 per decision
      of 4 steps).
    momentum: fraction of the previous step's turn carried into the next.
    fixation_tolerance: gaze-to-cross distance that counts as fixating.
    fixation_hold: consecutive fixating steps that complete a fixation.
    hold_still: only no-op steps count as fixating ("holding" the gaze on
      the cross); False also counts a gaze sweeping through the window.
    selection_tolerance: gaze-to-image-centre distance that selects.
    intertrial_interval: blank steps between a selection and the next cross.
    num_trials: selections per episode.
    max_steps: primitive steps per episode at most.
    fixation_reward, correct_reward, wrong_reward: the rewards.
    cross_arm, cross_width: the cross's half-length and thickness in pixels
      at resolution 84.
  """
  resolution: int = 84
  screen_degrees: float = 65.0
  image_size: int = 34
  image_offset: float = 25.0
  turn_degrees: float = 1.1
  momentum: float = 0.25
  fixation_tolerance: float = 3.5
  fixation_hold: int = 4
  hold_still: bool = True
  selection_tolerance: float = 7.0
  intertrial_interval: int = 10
  num_trials: int = 10
  max_steps: int = 3600
  fixation_reward: float = 0.2
  correct_reward: float = 1.0
  wrong_reward: float = -1.0
  cross_arm: int = 5
  cross_width: int = 2

  def __post_init__(self):
    if self.resolution < 16:
      raise ValueError(f'resolution must be >= 16, got {self.resolution}')
    for name in ('num_trials', 'max_steps', 'fixation_hold'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.intertrial_interval < 0:
      raise ValueError('intertrial_interval must be >= 0')
    if not 0.0 < self.turn_degrees <= 90.0:
      raise ValueError(f'turn_degrees must be in (0, 90], got '
                       f'{self.turn_degrees}')
    if not 0.0 <= self.momentum < 1.0:
      raise ValueError(f'momentum must be in [0, 1), got {self.momentum}')
    if self.image_offset + self.image_size / 2 > 42 + 1e-6:
      raise ValueError('the images must lie on the screen')

  @property
  def pixels_per_degree(self) -> float:
    return self.resolution / self.screen_degrees

  @property
  def image_pixels(self) -> int:
    """Image side at this resolution."""
    return max(1, int(round(self.image_size * self.resolution / 84)))

  @property
  def image_degrees(self) -> float:
    """Distance of an image centre from the screen's centre in degrees."""
    return self.image_offset * self.screen_degrees / 84

  def image_columns(self):
    """First screen column of the left and the right image."""
    r, s = self.resolution, self.image_pixels
    offset = self.image_offset * r / 84
    return (int(round(r / 2 - offset - s / 2)),
            int(round(r / 2 + offset - s / 2)))


class HarlowState(NamedTuple):
  gaze: tf.Tensor  # float32 [B], degrees in [-180, 180)
  turn: tf.Tensor  # float32 [B], the last step's turn (momentum)
  phase: tf.Tensor  # int32 [B]: FIXATION, CHOICE or INTERVAL
  counter: tf.Tensor  # int32 [B]: fixating steps, or interval steps, so far
  trial: tf.Tensor  # int32 [B]: selections made in this episode
  steps: tf.Tensor  # int32 [B]: primitive steps taken in this episode
  images: tf.Tensor  # int32 [B, 2]: image indices, the rewarded one first
  rewarded_side: tf.Tensor  # int32 [B]: 0 left, 1 right (this trial)
  first_correct: tf.Tensor  # int32 [B]: trial 1's outcome (1/0), -1 before


def _column_bank(config: HarlowConfig, image_set: np.ndarray) -> np.ndarray:
  """Every screen column the view can show: uint8 [M, H, 3].

  0: outside the screen (black); 1: blank screen; 2 .. 2+R-1: the columns of
  the fixation screen; then image n's column k at 2 + R + n * s + k.
  """
  r, s = config.resolution, config.image_pixels
  grey = np.full((r, 3), SCREEN_GREY, np.uint8)
  fixation = np.full((r, r, 3), SCREEN_GREY, np.uint8)  # [W, H, 3]
  scale = r / 84
  arm = max(1, int(round(config.cross_arm * scale)))
  width = max(1, int(round(config.cross_width * scale)))
  lo = r // 2 - width // 2  # the bars' first row/column
  centre = r // 2
  fixation[lo:lo + width, centre - arm:centre + arm] = CROSS_RGB  # vertical
  fixation[centre - arm:centre + arm, lo:lo + width] = CROSS_RGB  # horizontal
  top = (r - s) // 2
  columns = np.repeat(grey[None, None], len(image_set) * s, 0)[:, 0]  # [N*s,H,3]
  columns = columns.reshape(len(image_set), s, r, 3).copy()
  # image [N, s(rows), s(cols), 3] -> columns [N, s(cols), s(rows), 3]
  columns[:, :, top:top + s] = np.transpose(image_set, (0, 2, 1, 3))
  return np.concatenate([np.zeros((1, r, 3), np.uint8), grey[None], fixation,
                         columns.reshape(-1, r, 3)])


def resize_images(image_set: np.ndarray, size: int) -> np.ndarray:
  """uint8 [N, h, w, 3] -> [N, size, size, 3] (area averaging)."""
  if image_set.shape[1:3] == (size, size):
    return image_set
  resized = tf.image.resize(tf.cast(image_set, tf.float32), [size, size],
                            method='area', antialias=True)
  return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def _wrap(angle):
  """Degrees -> [-180, 180)."""
  return tf.math.floormod(angle + 180.0, 360.0) - 180.0


class HarlowTask(core.RenderedCore):
  """Batched core of Harlow's task (primitive steps; see the module doc)."""

  progress_metrics = ('p_correct_later', 'p_correct_after_loss',
                      'fixation_rate', 'frames_per_trial')

  def __init__(self, split: str = 'train', image_dir: Optional[str] = None,
               num_images: int = 1000, image_seed: int = 0,
               config: Optional[HarlowConfig] = None, **config_kwargs):
    """Args:
      split: 'train' or 'test' (the held-out images).
      image_dir: a folder with `train/` and `test/` subfolders of images to
        use instead of the procedural sets.
      num_images: images per split (at most, for a folder).
      image_seed: seed of the procedural image sets.
      config: the geometry; or give its fields as keyword arguments
        (e.g. `resolution=42`).
    """
    if config is None:
      config = HarlowConfig(**config_kwargs)
    elif config_kwargs:
      raise ValueError('give either config or its fields, not both')
    self.config = config
    self.resolution = config.resolution
    self.split = split
    self.name = 'harlow'
    raw = images_lib.load(split, image_dir, num_images, image_seed)
    self.num_images = len(raw)
    self.images = resize_images(raw, config.image_pixels)  # uint8 [N, s, s, 3]
    # Columns as float32 [M, H], the bytes of one RGBA pixel per element: the
    # transpose to rows then moves 4-byte values, as fast as 3-byte ones,
    # and on this TF build's oneDNN path for float32 (for uint8 and int32 it
    # logs an error line per process). The alpha byte 0x40 makes every value
    # a normal float (no NaN, infinity or denormal that a move could alter).
    bank = _column_bank(config, self.images)
    rgba = np.concatenate([bank, np.full_like(bank[..., :1], 0x40)], -1)
    self._bank = tf.constant(rgba.view(np.float32)[..., 0])

  @property
  def num_actions(self) -> int:
    return 3

  def possible_rewards(self):
    c = self.config
    return (0.0, c.fixation_reward, c.correct_reward, c.wrong_reward)

  @property
  def episode_length(self) -> int:
    return self.config.max_steps

  # -- dynamics -------------------------------------------------------------

  def reset(self, key, batch_size):
    pair_key, side_key, reward_key = core.split_key(key, 3)
    first = tf.random.stateless_uniform([batch_size], pair_key, 0,
                                        self.num_images, tf.int32)
    # The second image differs from the first.
    other = tf.random.stateless_uniform(
        [batch_size], core.fold_in(pair_key, 1), 1, self.num_images, tf.int32)
    second = (first + other) % self.num_images
    swap = tf.random.stateless_uniform([batch_size], reward_key, 0, 2,
                                       tf.int32) > 0
    images = tf.where(swap[:, None], tf.stack([second, first], 1),
                      tf.stack([first, second], 1))
    zeros = tf.zeros([batch_size], tf.int32)
    state = HarlowState(
        gaze=tf.zeros([batch_size]), turn=tf.zeros([batch_size]),
        phase=zeros + FIXATION, counter=zeros, trial=zeros, steps=zeros,
        images=images,
        rewarded_side=tf.random.stateless_uniform([batch_size], side_key, 0, 2,
                                                  tf.int32),
        first_correct=zeros - 1)
    return state, self.observe(state)

  def transition(self, key, state, action):
    """`step` without rendering the observation (`observation` is {})."""
    c = self.config
    info = self.task_info(state)
    shape = tf.shape(state.gaze)
    action = tf.reshape(tf.cast(action, tf.int32), shape)
    direction = tf.gather(tf.constant([-1.0, 1.0, 0.0]), action)
    turn = c.momentum * state.turn + (1 - c.momentum) * c.turn_degrees * direction
    gaze = _wrap(state.gaze + turn)
    steps = state.steps + 1

    # Fixation: count consecutive steps on the cross; complete at the hold.
    fixating = tf.equal(state.phase, FIXATION)
    on_cross = tf.abs(gaze) <= c.fixation_tolerance
    if c.hold_still:
      on_cross &= tf.equal(action, NOOP)
    hold = tf.where(on_cross, state.counter + 1, 0)
    fixated = fixating & (hold >= c.fixation_hold)

    # Choice: an image is selected when the gaze comes near its centre.
    choosing = tf.equal(state.phase, CHOICE)
    offset = c.image_degrees
    near_left = tf.abs(gaze + offset) <= c.selection_tolerance
    near_right = tf.abs(gaze - offset) <= c.selection_tolerance
    selected = choosing & (near_left | near_right)
    picked_side = tf.where(near_right, 1, 0)
    correct = selected & tf.equal(picked_side, state.rewarded_side)
    wrong = selected & tf.logical_not(correct)

    # Interval: count blank steps; then the next trial's cross.
    waiting = tf.equal(state.phase, INTERVAL)
    waited = state.counter + 1
    next_trial = waiting & (waited >= c.intertrial_interval)
    if c.intertrial_interval == 0:  # straight from a selection to the cross
      next_trial = selected

    trial = state.trial + tf.cast(selected, tf.int32)
    phase = tf.where(fixated, CHOICE, state.phase)
    phase = tf.where(selected, INTERVAL, phase)
    phase = tf.where(next_trial, FIXATION, phase)
    counter = tf.where(fixating, hold, tf.where(waiting, waited, 0))
    counter = tf.where(fixated | selected | next_trial, 0, counter)
    side = tf.where(next_trial, tf.random.stateless_uniform(
        shape, key, 0, 2, tf.int32), state.rewarded_side)
    is_first = tf.equal(state.trial, 0)
    first_correct = tf.where(selected & is_first, tf.cast(correct, tf.int32),
                             state.first_correct)

    reward = (c.fixation_reward * tf.cast(fixated, tf.float32) +
              c.correct_reward * tf.cast(correct, tf.float32) +
              c.wrong_reward * tf.cast(wrong, tf.float32))
    last = (trial >= c.num_trials) | (steps >= c.max_steps)
    f = lambda x: tf.cast(x, tf.float32)
    later = selected & tf.logical_not(is_first)
    after_loss = later & tf.equal(state.first_correct, 0)
    metrics = {
        'trials': f(selected), 'correct': f(correct),
        'first_correct': f(correct & is_first),
        'later_trials': f(later), 'later_correct': f(later & correct),
        'later_trials_after_loss': f(after_loss),
        'later_correct_after_loss': f(after_loss & correct),
        'fixations': f(fixated),
        'fixation_timeouts': f(last & tf.equal(phase, FIXATION)),
        'frames': tf.ones(shape, tf.float32),
    }
    next_state = HarlowState(gaze, turn, phase, counter, trial, steps,
                             state.images, side, first_correct)
    return next_state, core.StepOutput(
        reward=reward, discount=1.0 - f(last), last=last, observation={},
        info=info, metrics=metrics)

  # -- rendering ------------------------------------------------------------

  def observe(self, state) -> Dict[str, tf.Tensor]:
    """The view of `state`: {'pixels': uint8 [B, R, R, 3]}."""
    c = self.config
    r, s = c.resolution, c.image_pixels
    shift = tf.cast(tf.round(state.gaze * c.pixels_per_degree), tf.int32)
    col = tf.range(r)[None, :] + shift[:, None]  # screen column [B, R]
    on_screen = (col >= 0) & (col < r)
    left0, right0 = c.image_columns()
    in_left = (col >= left0) & (col < left0 + s)
    in_right = (col >= right0) & (col < right0 + s)
    # The image on each side: the rewarded one (images[:, 0]) on its side.
    left_image = tf.gather(state.images, state.rewarded_side, batch_dims=1)
    right_image = tf.gather(state.images, 1 - state.rewarded_side, batch_dims=1)
    image_base = 2 + r
    left_idx = image_base + left_image[:, None] * s + (col - left0)
    right_idx = image_base + right_image[:, None] * s + (col - right0)
    choice_idx = tf.where(in_left, left_idx, tf.where(in_right, right_idx, 1))
    phase = state.phase[:, None]
    idx = tf.where(tf.equal(phase, FIXATION), 2 + col,
                   tf.where(tf.equal(phase, CHOICE), choice_idx, 1))
    idx = tf.where(on_screen, idx, 0)
    view = tf.transpose(tf.gather(self._bank, idx), [0, 2, 1])  # [B, H, W]
    return {'pixels': tf.bitcast(view, tf.uint8)[..., :3]}

  # -- ground truth and measures --------------------------------------------

  def task_info(self, state) -> Dict[str, tf.Tensor]:
    return {'rewarded_side': state.rewarded_side, 'trial': state.trial,
            'phase': state.phase, 'gaze': state.gaze, 'images': state.images}

  def derived_metrics(self, totals):
    """Choice rates (Fig 6f's quantities), fixation rate, trial length."""
    out = {}

    def ratio(name, num, den):
      if totals.get(den, 0) > 0:
        out[name] = totals[num] / totals[den]

    ratio('p_correct', 'correct', 'trials')
    ratio('p_correct_later', 'later_correct', 'later_trials')
    ratio('p_correct_after_loss', 'later_correct_after_loss',
          'later_trials_after_loss')
    first_trials = totals.get('trials', 0) - totals.get('later_trials', 0)
    if first_trials > 0:
      out['p_correct_first'] = totals['first_correct'] / first_trials
    win_trials = totals.get('later_trials', 0) - totals.get(
        'later_trials_after_loss', 0)
    if win_trials > 0:
      out['p_correct_after_win'] = (totals['later_correct'] - totals[
          'later_correct_after_loss']) / win_trials
    begun = totals.get('fixations', 0) + totals.get('fixation_timeouts', 0)
    if begun > 0:
      out['fixation_rate'] = totals['fixations'] / begun
    ratio('frames_per_trial', 'frames', 'trials')
    if totals.get('episodes', 0) > 0:
      out['image_reward_per_episode'] = (
          2 * totals.get('correct', 0) - totals.get('trials', 0)) / totals[
              'episodes']
    return out
