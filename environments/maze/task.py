"""The rules of one-shot navigation in a maze (Exp 7; Mirowski et al. 2017).

`MazeTask` plays them on a map of `maps` (default `I_MAZE`); its observation
is the first-person view of `render` (`pixels` uint8 [R, R, 3]).

An episode draws the goal's alcove (uniformly over the 'G' cells); it stays
there for the whole episode. The agent starts at a random spawn cell's centre
with a random heading. Entering the goal's cell pays `goal_reward` (10) and
respawns the agent (a random spawn, a random heading); the goal stays. With
`apples`, entering an apple's cell pays `apple_reward` (1) once; eaten apples
come back when the agent respawns. An episode lasts exactly `episode_frames`
primitive steps (1800: 450 decisions at action repeat 4); it always ends by
time (discount 0 at its end).

Geometry, in cells (a cell is 1 x 1; position (x, y) is (column, row) with y
pointing down the map; heading 0 looks along +x, and turning right increases
it). Actions (`MazeConfig` holds the speeds; the paper's agent decides every
4 primitive steps, `ActionRepeat(core, 4)`, `--action_repeat=4`):

  0 forward, 1 backward     move `move_speed` (0.1) cells per step
  2 turn left, 3 turn right turn `turn_degrees` (7.5) per step
  4 strafe left, 5 right    move `move_speed` sideways

So one decision moves 0.4 cells or turns 30 degrees. The agent is a square
of half-side `agent_radius` (0.25); a move is split into its x and y parts and
each part is refused if the square would then overlap a wall cell, so the
agent slides along walls and can never cut through a corner. It reaches a
cell (goal, apple) when its centre enters it.

Ground truth (`task_info`): `position` [2] (x, y), `heading` (radians in
[-pi, pi)), `goal` (index into the map's 'G' cells, in reading order),
`goal_visits` (this episode), `frames` (primitive steps so far).

Metrics (summed per episode): `goal_visits`, `first_visits` (1 in an episode
whose goal was found), `first_latency` (primitive steps from the start to the
first visit), `later_visits` and `later_latency` (steps from each respawn to
the next visit), `apples`, `frames`. `derived_metrics` gives the latencies per
visit and their ratio, Fig 7c's measure (the issue's target: at most 0.5 for
an agent with memory).
"""

import dataclasses
import math
from typing import Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from environments import core
from environments.maze.maps import I_MAZE, cell_centres, parse_maze
from environments.maze.render import Renderer

FORWARD, BACKWARD, TURN_LEFT, TURN_RIGHT, STRAFE_LEFT, STRAFE_RIGHT = range(6)
ACTION_NAMES = ('forward', 'backward', 'turn left', 'turn right',
                'strafe left', 'strafe right')
# (forward, sideways to the right, turn right) per action.
_MOTION = np.array([[1, 0, 0], [-1, 0, 0], [0, 0, -1], [0, 0, 1], [0, -1, 0],
                    [0, 1, 0]], np.float32)


@dataclasses.dataclass(frozen=True)
class MazeConfig:
  """Rules and rendering; distances in cells, angles in degrees, durations in
  primitive steps (one agent decision is `action_repeat` of them).

  Attributes:
    resolution: side of the square view in pixels (84 in the paper).
    fov: horizontal (and vertical) field of view.
    move_speed: cells moved per step forward, backward or sideways.
    turn_degrees: turn per step.
    agent_radius: half-side of the agent's square body.
    episode_frames: steps per episode (fixed).
    goal_reward, apple_reward: the rewards.
    apples: put the map's 'A' apples in (off by default, as in the paper's task).
    wall_seed: seed of the wall colours.
  """
  resolution: int = 84
  fov: float = 90.0
  move_speed: float = 0.1
  turn_degrees: float = 7.5
  agent_radius: float = 0.25
  episode_frames: int = 1800
  goal_reward: float = 10.0
  apple_reward: float = 1.0
  apples: bool = False
  wall_seed: int = 0

  def __post_init__(self):
    if self.resolution < 16:
      raise ValueError(f'resolution must be >= 16, got {self.resolution}')
    if not 10.0 <= self.fov < 180.0:
      raise ValueError(f'fov must be in [10, 180), got {self.fov}')
    if not 0.0 < self.agent_radius < 0.5:
      raise ValueError(f'agent_radius must be in (0, 0.5), got '
                       f'{self.agent_radius}')
    if not 0.0 < self.move_speed <= 0.5:
      raise ValueError(f'move_speed must be in (0, 0.5], got {self.move_speed}')
    if not 0.0 < self.turn_degrees <= 90.0:
      raise ValueError(f'turn_degrees must be in (0, 90], got '
                       f'{self.turn_degrees}')
    if self.episode_frames < 1:
      raise ValueError(f'episode_frames must be >= 1, got '
                       f'{self.episode_frames}')


class MazeState(NamedTuple):
  position: tf.Tensor  # float32 [B, 2]: (x, y) in cells
  heading: tf.Tensor  # float32 [B]: radians in [-pi, pi)
  goal: tf.Tensor  # int32 [B]: index of the goal cell
  goal_visits: tf.Tensor  # int32 [B]
  frames: tf.Tensor  # int32 [B]: steps taken in this episode
  since: tf.Tensor  # int32 [B]: steps since the start or the last respawn
  eaten: tf.Tensor  # bool [B, max(1, apples)]: apples eaten since the respawn


def _wrap(angle):
  return tf.math.floormod(angle + math.pi, 2 * math.pi) - math.pi


class MazeTask(core.RenderedCore):
  """Batched core of the navigation task (primitive steps; module doc)."""

  progress_metrics = ('visits_per_episode', 'latency_first', 'latency_later',
                      'latency_ratio')

  def __init__(self, maze: Optional[str] = None,
               config: Optional[MazeConfig] = None, **config_kwargs):
    """Args:
      maze: the text map (default `I_MAZE`); `load_maze` reads a file.
      config: the rules; or give its fields as keyword arguments
        (e.g. `resolution=42`).
    """
    if config is None:
      config = MazeConfig(**config_kwargs)
    elif config_kwargs:
      raise ValueError('give either config or its fields, not both')
    self.config = config
    self.resolution = config.resolution
    self.maze = parse_maze(I_MAZE if maze is None else maze)
    self.name = 'imaze'
    self.renderer = Renderer(self.maze, config)
    self._rows, self._cols = self.maze.shape
    self._walls = tf.constant(self.maze.walls.reshape(-1))
    self._spawns = tf.constant(cell_centres(self.maze.spawns))
    self._goals = tf.constant(cell_centres(self.maze.goals))
    self._apples = tf.constant(cell_centres(self.maze.apples))
    self._num_apples = len(self.maze.apples) if config.apples else 0
    self._motion = tf.constant(_MOTION)

  @property
  def num_actions(self) -> int:
    return 6

  def possible_rewards(self):
    c = self.config
    apples = (c.apple_reward,) if self._num_apples else ()
    return (0.0, c.goal_reward, *apples)

  @property
  def episode_length(self) -> int:
    return self.config.episode_frames

  # -- dynamics -------------------------------------------------------------

  def _spawn(self, key, batch_size):
    """Random spawn positions [B, 2] and headings [B]."""
    cell_key, heading_key = core.split_key(key)
    cell = tf.random.stateless_uniform([batch_size], cell_key, 0,
                                       len(self.maze.spawns), tf.int32)
    heading = tf.random.stateless_uniform([batch_size], heading_key, -math.pi,
                                          math.pi)
    return tf.gather(self._spawns, cell), heading

  def reset(self, key, batch_size):
    spawn_key, goal_key = core.split_key(key)
    position, heading = self._spawn(spawn_key, batch_size)
    zeros = tf.zeros([batch_size], tf.int32)
    state = MazeState(
        position=position, heading=heading,
        goal=tf.random.stateless_uniform([batch_size], goal_key, 0,
                                         len(self.maze.goals), tf.int32),
        goal_visits=zeros, frames=zeros, since=zeros,
        eaten=tf.zeros([batch_size, max(1, self._num_apples)], tf.bool))
    return state, self.observe(state)

  def _cell_index(self, xy):
    """Flat cell index of points [..., 2] (clipped into the map)."""
    col = tf.clip_by_value(tf.cast(tf.floor(xy[..., 0]), tf.int32), 0,
                           self._cols - 1)
    row = tf.clip_by_value(tf.cast(tf.floor(xy[..., 1]), tf.int32), 0,
                           self._rows - 1)
    return row * self._cols + col

  def _free(self, xy):
    """bool [B]: the agent's square at `xy` [B, 2] overlaps no wall."""
    r = self.config.agent_radius
    corners = tf.constant([[-r, -r], [-r, r], [r, -r], [r, r]], tf.float32)
    walls = tf.gather(self._walls, self._cell_index(xy[:, None] + corners))
    return tf.logical_not(tf.reduce_any(walls, axis=1))

  def transition(self, key, state, action):
    """`step` without rendering the observation (`observation` is {})."""
    c = self.config
    info = self.task_info(state)
    action = tf.reshape(tf.cast(action, tf.int32), tf.shape(state.heading))
    motion = tf.gather(self._motion, action)  # [B, 3]
    heading = _wrap(state.heading + motion[:, 2] * math.radians(c.turn_degrees))
    forward = tf.stack([tf.cos(heading), tf.sin(heading)], -1)
    right = tf.stack([-forward[:, 1], forward[:, 0]], -1)
    delta = c.move_speed * (motion[:, :1] * forward + motion[:, 1:2] * right)
    # Move along x, then along y; each part only if the body stays clear.
    x_moved = state.position + delta * tf.constant([1.0, 0.0])
    position = tf.where(self._free(x_moved)[:, None], x_moved, state.position)
    y_moved = position + delta * tf.constant([0.0, 1.0])
    position = tf.where(self._free(y_moved)[:, None], y_moved, position)

    cell = self._cell_index(position)
    goal_cell = self._cell_index(tf.gather(self._goals, state.goal))
    at_goal = tf.equal(cell, goal_cell)
    reward = c.goal_reward * tf.cast(at_goal, tf.float32)
    eaten = state.eaten
    apples = tf.zeros_like(reward)
    if self._num_apples:
      on_apple = tf.equal(cell[:, None], self._cell_index(self._apples)[None])
      fresh = on_apple & tf.logical_not(eaten)
      apples = tf.reduce_sum(tf.cast(fresh, tf.float32), 1)
      reward += c.apple_reward * apples
      eaten = eaten | on_apple

    frames = state.frames + 1
    since = state.since + 1
    first = at_goal & tf.equal(state.goal_visits, 0)
    later = at_goal & (state.goal_visits > 0)
    f = lambda x: tf.cast(x, tf.float32)
    metrics = {
        'goal_visits': f(at_goal), 'first_visits': f(first),
        'first_latency': tf.where(first, f(since), 0.0),
        'later_visits': f(later),
        'later_latency': tf.where(later, f(since), 0.0),
        'apples': apples, 'frames': tf.ones_like(reward),
    }
    # Respawn after the goal (the goal stays); eaten apples come back.
    spawn_position, spawn_heading = self._spawn(key, tf.shape(action)[0])
    position = tf.where(at_goal[:, None], spawn_position, position)
    heading = tf.where(at_goal, spawn_heading, heading)
    eaten = eaten & tf.logical_not(at_goal)[:, None]
    since = tf.where(at_goal, 0, since)
    last = frames >= c.episode_frames
    next_state = MazeState(position, heading, state.goal,
                           state.goal_visits + tf.cast(at_goal, tf.int32),
                           frames, since, eaten)
    return next_state, core.StepOutput(
        reward=reward, discount=1.0 - f(last), last=last, observation={},
        info=info, metrics=metrics)

  # -- the view (render.py) -------------------------------------------------

  def observe(self, state) -> Dict[str, tf.Tensor]:
    """The first-person view of `state`: {'pixels': uint8 [B, R, R, 3]}."""
    return {'pixels': self.renderer.render(state.position, state.heading,
                                           state.goal, state.eaten)}

  # -- ground truth and measures --------------------------------------------

  def task_info(self, state) -> Dict[str, tf.Tensor]:
    return {'position': state.position, 'heading': state.heading,
            'goal': state.goal, 'goal_visits': state.goal_visits,
            'frames': state.frames}

  def derived_metrics(self, totals):
    """Visits per episode, latencies per visit (primitive steps: frames) and
    their ratio."""
    out = {}
    episodes = totals.get('episodes', 0)
    if episodes > 0:
      out['visits_per_episode'] = totals.get('goal_visits', 0) / episodes
      out['p_found'] = totals.get('first_visits', 0) / episodes
    if totals.get('first_visits', 0) > 0:
      out['latency_first'] = totals['first_latency'] / totals['first_visits']
    if totals.get('later_visits', 0) > 0:
      out['latency_later'] = totals['later_latency'] / totals['later_visits']
    if 'latency_first' in out and 'latency_later' in out:
      out['latency_ratio'] = out['latency_later'] / out['latency_first']
    return out

