"""One-shot navigation in a first-person maze (Exp 7, Section 3.2.3; Mirowski et al. 2017).

Mazes are text maps in the DeepMind Lab convention, one character per cell:

  '*'  wall            ' '  floor           'P'  spawn position (floor)
  'G'  candidate goal position (floor)      'A'  apple (floor; off by default)

Rows run top to bottom, columns left to right; the map must be a rectangle
closed by walls, with at least one 'P' and one 'G', every 'G' reachable from
the spawns. `parse_maze` checks all of this (`MazeError`, a ValueError naming
the line). The built-in default, `I_MAZE`, is the I-maze of Mirowski et al.: a
central corridor (the spawns), a cross corridor at each end, and an alcove at
each of the cross corridors' four ends holding a candidate goal. Seen from the
corridors, an alcove's goal is hidden until the agent stands at the alcove's
mouth.

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

Rendering (all TF ops, batched; `observe`): one ray per pixel column through
the grid. A ray's crossings of the vertical and of the horizontal grid lines
are computed in closed form for every crossing at once (no loop), the walls
looked up with one gather, and the nearest wall kept; its perpendicular
distance t gives the wall's height on screen, H / (t tan(fov / 2)). Walls carry
a colour per wall cell (drawn once from a fixed palette with `wall_seed`, so
that places can be told apart), darker on faces along y, a dark band at each
cell edge (so that motion is visible on a plain wall) and fog with distance;
above the wall is sky, below a floor shaded by distance. The goal is a yellow
post standing in its cell, drawn in the columns where it is nearer than the
wall (so a wall between agent and goal hides it); uneaten apples are small red
posts. The field of view is `fov` (90 degrees, DeepMind Lab's default), the
same vertically (square pixels). Observation: `pixels` uint8 [R, R, 3], R =
`resolution` (84 in the paper). Under `ActionRepeat` only a decision's last
frame is rendered.

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
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from environments import core

FORWARD, BACKWARD, TURN_LEFT, TURN_RIGHT, STRAFE_LEFT, STRAFE_RIGHT = range(6)
ACTION_NAMES = ('forward', 'backward', 'turn left', 'turn right',
                'strafe left', 'strafe right')
# (forward, sideways to the right, turn right) per action.
_MOTION = np.array([[1, 0, 0], [-1, 0, 0], [0, 0, -1], [0, 0, 1], [0, -1, 0],
                    [0, 1, 0]], np.float32)

# The I-maze of Mirowski et al. (2017): 7 x 13 cells. Spawns along the central
# corridor; a goal alcove at each end of the two cross corridors.
I_MAZE = '\n'.join([
    '*******',
    '*G***G*',
    '* *** *',
    '*     *',
    '***P***',
    '***P***',
    '***P***',
    '***P***',
    '***P***',
    '*     *',
    '* *** *',
    '*G***G*',
    '*******',
])

SKY_RGB = (150, 190, 235)
GOAL_RGB = (255, 220, 0)
APPLE_RGB = (220, 30, 30)
# Wall colours: clearly distinct hues of medium brightness.
WALL_PALETTE = np.array([
    [200, 80, 60], [60, 140, 200], [90, 170, 80], [190, 150, 60],
    [150, 90, 180], [60, 170, 160], [200, 110, 150], [130, 130, 130],
], np.float32)
FLOOR_NEAR, FLOOR_FAR = 110.0, 55.0


class MazeError(ValueError):
  """A malformed maze map (the message names the line)."""


@dataclasses.dataclass(frozen=True)
class MazeMap:
  """A parsed map. Cells are (row, column).

  Attributes:
    text: the map as given (lines joined by newlines).
    walls: bool [rows, columns].
    spawns, goals, apples: the 'P', 'G' and 'A' cells in reading order.
  """
  text: str
  walls: np.ndarray
  spawns: Tuple[Tuple[int, int], ...]
  goals: Tuple[Tuple[int, int], ...]
  apples: Tuple[Tuple[int, int], ...]

  @property
  def shape(self) -> Tuple[int, int]:
    return self.walls.shape


def parse_maze(text: str) -> MazeMap:
  """Parses a text map (see the module doc); raises `MazeError`."""
  lines = text.split('\n')
  while lines and not lines[0].strip():  # blank lines around the map
    lines.pop(0)
  while lines and not lines[-1].strip():
    lines.pop()
  lines = [line.rstrip('\r') for line in lines]
  if not lines:
    raise MazeError('maze map is empty')
  width = len(lines[0])
  cells = {'P': [], 'G': [], 'A': []}
  for r, line in enumerate(lines):
    if len(line) != width:
      raise MazeError(f'maze line {r + 1} has {len(line)} characters, line 1 '
                      f'has {width} (ragged map; pad with walls)')
    for c, ch in enumerate(line):
      if ch not in '* PGA':
        raise MazeError(f'maze line {r + 1}, column {c + 1}: unknown cell '
                        f'{ch!r} (use "*", " ", "P", "G", "A")')
      if ch in cells:
        cells[ch].append((r, c))
  walls = np.array([[ch == '*' for ch in line] for line in lines])
  rows, cols = walls.shape
  if rows < 3 or cols < 3:
    raise MazeError(f'maze is {rows} x {cols}; it needs at least 3 x 3')
  border = np.concatenate([walls[0], walls[-1], walls[:, 0], walls[:, -1]])
  if not border.all():
    r, c = next((r, c) for r in range(rows) for c in range(cols)
                if (r in (0, rows - 1) or c in (0, cols - 1))
                and not walls[r, c])
    raise MazeError(f'maze is not closed: line {r + 1}, column {c + 1} is an '
                    'opening in the outer wall')
  if not cells['P']:
    raise MazeError('maze has no spawn position "P"')
  if not cells['G']:
    raise MazeError('maze has no goal position "G"')
  reach = _reachable(walls, cells['P'])
  for r, c in cells['G'] + cells['A']:
    if not reach[r, c]:
      raise MazeError(f'maze line {r + 1}, column {c + 1}: '
                      f'{lines[r][c]!r} cannot be reached from any spawn')
  return MazeMap('\n'.join(lines), walls, tuple(cells['P']),
                 tuple(cells['G']), tuple(cells['A']))


def load_maze(path: str) -> MazeMap:
  """Reads and parses a map file; raises OSError or `MazeError`."""
  try:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  except UnicodeDecodeError:
    raise MazeError(f'{path} is not a text map (not UTF-8 text)') from None
  try:
    return parse_maze(text)
  except MazeError as e:
    raise MazeError(f'{path}: {e}') from None


def _reachable(walls: np.ndarray, starts) -> np.ndarray:
  """Cells reachable from `starts` through 4-neighbouring floor cells."""
  seen = np.zeros_like(walls)
  todo = list(starts)
  for r, c in todo:
    seen[r, c] = True
  while todo:
    r, c = todo.pop()
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
      n = (r + dr, c + dc)
      if not walls[n] and not seen[n]:
        seen[n] = True
        todo.append(n)
  return seen


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


def _pack(rgb):
  """float RGB [..., 3] (0-255) -> int32 [...]: the rounded bytes R, G, B, 0
  of one pixel (little-endian), so that `tf.bitcast` to uint8 gives them back."""
  c = tf.cast(tf.round(rgb), tf.int32)
  return c[..., 0] + c[..., 1] * 256 + c[..., 2] * 65536


def wall_colours(maze: MazeMap, seed: int) -> np.ndarray:
  """float32 [rows * columns, 3]: each wall cell's colour (floor cells 0)."""
  rng = np.random.default_rng(seed)
  index = rng.integers(0, len(WALL_PALETTE), size=maze.walls.size)
  return np.where(maze.walls.reshape(-1, 1), WALL_PALETTE[index], 0.0).astype(
      np.float32)


class MazeTask(core.RenderedCore):
  """Batched core of the navigation task (primitive steps; module doc)."""

  default_baselines = ('random',)
  repeat_baselines = ('random',)
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
    rows, cols = self.maze.shape
    self._rows, self._cols = rows, cols
    self._walls = tf.constant(self.maze.walls.reshape(-1))
    self._colours = tf.constant(wall_colours(self.maze, config.wall_seed))
    cell_centre = lambda cells: np.array(
        [[c + 0.5, r + 0.5] for r, c in cells], np.float32).reshape(-1, 2)
    self._spawns = tf.constant(cell_centre(self.maze.spawns))
    self._goals = tf.constant(cell_centre(self.maze.goals))
    self._apples = tf.constant(cell_centre(self.maze.apples))
    self._num_apples = len(self.maze.apples) if config.apples else 0
    self._tan = math.tan(math.radians(config.fov) / 2)
    r = config.resolution
    # Camera coordinate of each pixel column's centre, in [-1, 1].
    self._camera = tf.constant((2 * (np.arange(r) + 0.5) / r - 1).astype(
        np.float32))
    # Floor colour per row (darker towards the horizon), sky above.
    rows_below = np.maximum(np.arange(r) + 0.5 - r / 2, 1e-3)
    distance = (r / 2) / (rows_below * self._tan)  # floor distance of a row
    shade = FLOOR_FAR + (FLOOR_NEAR - FLOOR_FAR) * np.exp(-distance / 3)
    self._floor = _pack(tf.constant(np.repeat(shade[:, None], 3, 1),
                                    tf.float32))  # int32 [H]
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

  # -- rendering ------------------------------------------------------------

  def cast_rays(self, position, heading):
    """Nearest wall along each pixel column's ray.

    Args:
      position: float32 [B, 2]; heading: float32 [B].
    Returns:
      (t [B, W]: perpendicular distance to the wall, cell [B, W]: flat index
      of the wall cell hit, y_face [B, W]: the face hit runs along x (the ray
      crossed a horizontal grid line), u [B, W]: where along the face in [0, 1)).
    """
    forward = tf.stack([tf.cos(heading), tf.sin(heading)], -1)  # [B, 2]
    plane = tf.stack([-forward[:, 1], forward[:, 0]], -1) * self._tan
    # Ray directions [B, W, 2]: with this scaling the ray parameter at a hit is
    # the perpendicular distance from the camera plane.
    rays = forward[:, None] + plane[:, None] * self._camera[None, :, None]
    origin = position[:, None]  # [B, 1, 2]

    def crossings(axis, count):
      """Hits on the grid lines across `axis` (0: x = const): (t, hit)."""
      d = rays[..., axis]  # [B, W]
      p = origin[..., axis]  # [B, 1]
      k = tf.range(1, count + 1, dtype=tf.float32)  # [K]
      base = tf.floor(p)[..., None]  # [B, 1, 1]
      positive = (d > 0)[..., None]
      line = tf.where(positive, base + k, base + 1 - k)  # [B, W, K]
      safe = tf.where(tf.abs(d) < 1e-9, 1e-9, d)[..., None]
      t = (line - p[..., None]) / safe
      t = tf.where(tf.abs(d)[..., None] < 1e-9, np.inf, t)
      other = origin[..., 1 - axis][..., None] + t * rays[..., 1 - axis][..., None]
      entered = tf.where(positive, line, line - 1)  # the cell beyond the line
      along = tf.clip_by_value(tf.floor(other), -1, 1e4)
      if axis == 0:
        col, row = entered, along
      else:
        col, row = along, entered
      inside = ((col >= 0) & (col < self._cols) & (row >= 0) &
                (row < self._rows))
      idx = tf.cast(tf.clip_by_value(row, 0, self._rows - 1), tf.int32) * \
          self._cols + tf.cast(tf.clip_by_value(col, 0, self._cols - 1),
                               tf.int32)
      wall = tf.gather(self._walls, idx) & inside & (t >= 0)
      t = tf.where(wall, t, np.inf)
      first = tf.argmin(t, axis=-1, output_type=tf.int32)  # [B, W]
      t_hit = tf.reduce_min(t, axis=-1)
      cell = tf.gather(idx, first, batch_dims=2)
      frac = tf.gather(other, first, batch_dims=2)
      return t_hit, cell, frac - tf.floor(frac)

    tx, cell_x, u_x = crossings(0, self._cols)
    ty, cell_y, u_y = crossings(1, self._rows)
    y_face = ty < tx
    return (tf.where(y_face, ty, tx), tf.where(y_face, cell_y, cell_x), y_face,
            tf.where(y_face, u_y, u_x))

  def _posts(self, state, where_, half_width, height, wall_t):
    """Pixels [B, N, H, W] covered by posts standing at `where_` [B, N, 2] (a
    post `2 * half_width` wide and `height` tall, on the floor), in the
    columns where the post is nearer than the wall."""
    r = self.config.resolution
    forward = tf.stack([tf.cos(state.heading), tf.sin(state.heading)], -1)
    right = tf.stack([-forward[:, 1], forward[:, 0]], -1)
    rel = where_ - state.position[:, None]  # [B, N, 2]
    depth = tf.reduce_sum(rel * forward[:, None], -1)[..., None]  # [B, N, 1]
    lateral = tf.reduce_sum(rel * right[:, None], -1)[..., None]
    safe = tf.maximum(depth, 1e-3) * self._tan
    columns = (tf.abs(self._camera - lateral / safe) <= half_width / safe) & (
        depth > 0.05) & (depth < wall_t[:, None])  # [B, N, W]
    scale = r / (2 * safe)  # pixels per unit of height at the post
    foot = r / 2 + scale  # the floor's row under the post
    head = foot - height * scale
    rows = tf.range(r, dtype=tf.float32)[None, None, :, None] + 0.5
    return columns[:, :, None] & (rows >= head[:, :, None]) & (
        rows < foot[:, :, None])  # [B, N, H, W]

  def observe(self, state) -> Dict[str, tf.Tensor]:
    """The first-person view of `state`: {'pixels': uint8 [B, R, R, 3]}."""
    c = self.config
    r = c.resolution
    t, cell, y_face, u = self.cast_rays(state.position, state.heading)
    shade = tf.where(y_face, 0.75, 1.0)
    shade *= tf.where((u < 0.06) | (u > 0.94), 0.55, 1.0)
    shade *= tf.maximum(0.35, 1.0 - 0.07 * t)
    wall = _pack(tf.gather(self._colours, cell) * shade[..., None])  # [B, W]
    half = r / (2 * t * self._tan)  # half the wall's height in pixels
    rows = tf.range(r, dtype=tf.float32)[None, :, None] + 0.5  # [1, H, 1]
    above = rows < (r / 2 - half)[:, None]  # [B, H, W]
    below = rows >= (r / 2 + half)[:, None]
    # The picture is composed in packed RGBX int32 pixels (a third of the
    # work of composing three channels), then viewed as bytes.
    pixel = tf.where(below, self._floor[None, :, None], wall[:, None])
    pixel = tf.where(above, _pack(tf.constant(SKY_RGB, tf.float32)), pixel)
    if self._num_apples:
      where_ = tf.broadcast_to(self._apples[None], [tf.shape(t)[0],
                                                    self._num_apples, 2])
      on = self._posts(state, where_, 0.15, 0.4, t)  # [B, N, H, W]
      uneaten = tf.logical_not(state.eaten)[:, :, None, None]
      apples = tf.reduce_any(on & uneaten, 1)
      pixel = tf.where(apples, _pack(tf.constant(APPLE_RGB, tf.float32)),
                       pixel)
    goal = tf.gather(self._goals, state.goal)[:, None]  # [B, 1, 2]
    on_goal = self._posts(state, goal, 0.2, 1.2, t)[:, 0]
    pixel = tf.where(on_goal, _pack(tf.constant(GOAL_RGB, tf.float32)), pixel)
    return {'pixels': tf.bitcast(pixel, tf.uint8)[..., :3]}

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


def plot_maze(ax, maze: MazeMap, trajectories=(), goal: Optional[int] = None,
              colours=None, visits=(), wall_seed: Optional[int] = 0,
              show_cells: bool = True):
  """Draws the map seen from above on a matplotlib axis.

  Args:
    ax: the axis.
    maze: the map.
    trajectories: sequences of (x, y) positions [n, 2], one line each.
    goal: index of the episode's goal cell (a star), or None.
    colours: one matplotlib colour per trajectory (default: a colour cycle).
    visits: (x, y) points to mark (e.g. goal hits), red dots.
    wall_seed: colour the walls as the renderer does (None: grey).
    show_cells: mark the spawn ('P'), goal ('G') and apple ('A') cells.
  """
  rows, cols = maze.shape
  if wall_seed is None:
    image = np.where(maze.walls[..., None], 90, 235).astype(np.uint8)
    image = np.repeat(image, 3, -1)
  else:
    image = wall_colours(maze, wall_seed).reshape(rows, cols, 3)
    image = np.where(maze.walls[..., None], image, 235).astype(np.uint8)
  ax.imshow(image, extent=(0, cols, rows, 0), interpolation='nearest')
  if show_cells:
    for cells, marker, colour in ((maze.spawns, 's', '0.6'),
                                  (maze.goals, 'o', '0.6'),
                                  (maze.apples, 'o', (0.86, 0.12, 0.12))):
      if cells:
        rc = np.array(cells)
        ax.scatter(rc[:, 1] + 0.5, rc[:, 0] + 0.5, marker=marker, s=25,
                   facecolors='none', edgecolors=[colour], linewidths=1)
  if goal is not None:
    r, c = maze.goals[goal]
    ax.scatter([c + 0.5], [r + 0.5], marker='*', s=220, color=np.array(
        GOAL_RGB) / 255, edgecolors='k', linewidths=0.8, zorder=6)
  for i, xy in enumerate(trajectories):
    xy = np.asarray(xy)
    if len(xy):
      colour = None if colours is None else colours[i]
      ax.plot(xy[:, 0], xy[:, 1], '-', lw=1.2, color=colour, alpha=0.9)
  if len(visits):
    v = np.asarray(visits)
    ax.scatter(v[:, 0], v[:, 1], color='red', s=90, zorder=5)
  ax.set_xlim(0, cols)
  ax.set_ylim(rows, 0)
  ax.set_aspect('equal')
  ax.set_xticks([])
  ax.set_yticks([])
