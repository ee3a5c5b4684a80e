"""The maze's first-person view, ray cast in TF ops (batched).

One ray per pixel column through the grid. A ray's crossings of the vertical
and of the horizontal grid lines are computed in closed form for every
crossing at once (no loop), the walls looked up with one gather, and the
nearest wall kept; its perpendicular distance t gives the wall's height on
screen, H / (t tan(fov / 2)). Walls carry a colour per wall cell (drawn once
from a fixed palette with `wall_seed`, so that places can be told apart),
darker on faces along y, a dark band at each cell edge (so that motion is
visible on a plain wall) and fog with distance; above the wall is sky, below a
floor shaded by distance. The goal is a yellow post standing in its cell,
drawn in the columns where it is nearer than the wall (so a wall between agent
and goal hides it); uneaten apples are small red posts. The field of view is
`fov` (90 degrees, DeepMind Lab's default), the same vertically (square
pixels). Observation: `pixels` uint8 [R, R, 3], R = `resolution` (84 in the
paper). Under `ActionRepeat` only a decision's last frame is rendered.
"""

import math

import numpy as np
import tensorflow as tf

from environments.maze.maps import MazeMap, cell_centres

SKY_RGB = (150, 190, 235)
GOAL_RGB = (255, 220, 0)
APPLE_RGB = (220, 30, 30)
# Wall colours: clearly distinct hues of medium brightness.
WALL_PALETTE = np.array([
    [200, 80, 60], [60, 140, 200], [90, 170, 80], [190, 150, 60],
    [150, 90, 180], [60, 170, 160], [200, 110, 150], [130, 130, 130],
], np.float32)
FLOOR_NEAR, FLOOR_FAR = 110.0, 55.0


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


class Renderer:
  """The first-person view of one map under one config (module doc)."""

  def __init__(self, maze: MazeMap, config):
    """Args:
      maze: the map.
      config: the task's `MazeConfig` (its resolution, fov, wall_seed and
        apples).
    """
    self.resolution = r = config.resolution
    self._rows, self._cols = maze.shape
    self._walls = tf.constant(maze.walls.reshape(-1))
    self._colours = tf.constant(wall_colours(maze, config.wall_seed))
    self._goals = tf.constant(cell_centres(maze.goals))
    self._apples = tf.constant(cell_centres(maze.apples))
    self._num_apples = len(maze.apples) if config.apples else 0
    self._tan = math.tan(math.radians(config.fov) / 2)
    # Camera coordinate of each pixel column's centre, in [-1, 1].
    self._camera = tf.constant((2 * (np.arange(r) + 0.5) / r - 1).astype(
        np.float32))
    # Floor colour per row (darker towards the horizon), sky above.
    rows_below = np.maximum(np.arange(r) + 0.5 - r / 2, 1e-3)
    distance = (r / 2) / (rows_below * self._tan)  # floor distance of a row
    shade = FLOOR_FAR + (FLOOR_NEAR - FLOOR_FAR) * np.exp(-distance / 3)
    self._floor = _pack(tf.constant(np.repeat(shade[:, None], 3, 1),
                                    tf.float32))  # int32 [H]

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

  def _posts(self, position, heading, where_, half_width, height, wall_t):
    """Pixels [B, N, H, W] covered by posts standing at `where_` [B, N, 2] (a
    post `2 * half_width` wide and `height` tall, on the floor), in the
    columns where the post is nearer than the wall."""
    r = self.resolution
    forward = tf.stack([tf.cos(heading), tf.sin(heading)], -1)
    right = tf.stack([-forward[:, 1], forward[:, 0]], -1)
    rel = where_ - position[:, None]  # [B, N, 2]
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

  def render(self, position, heading, goal, eaten):
    """The first-person view: uint8 [B, R, R, 3].

    Args:
      position: float32 [B, 2]; heading: float32 [B].
      goal: int32 [B]: index of the goal cell.
      eaten: bool [B, max(1, apples)]: the apples not to draw.
    """
    r = self.resolution
    t, cell, y_face, u = self.cast_rays(position, heading)
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
      on = self._posts(position, heading, where_, 0.15, 0.4, t)  # [B, N, H, W]
      uneaten = tf.logical_not(eaten)[:, :, None, None]
      apples = tf.reduce_any(on & uneaten, 1)
      pixel = tf.where(apples, _pack(tf.constant(APPLE_RGB, tf.float32)),
                       pixel)
    goal = tf.gather(self._goals, goal)[:, None]  # [B, 1, 2]
    on_goal = self._posts(position, heading, goal, 0.2, 1.2, t)[:, 0]
    pixel = tf.where(on_goal, _pack(tf.constant(GOAL_RGB, tf.float32)), pixel)
    return tf.bitcast(pixel, tf.uint8)[..., :3]
