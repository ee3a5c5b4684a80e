"""A maze seen from above, on a matplotlib axis (trajectories, goal, visits)."""

from typing import Optional

import numpy as np

from environments.maze.maps import MazeMap
from environments.maze.render import GOAL_RGB, wall_colours


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
