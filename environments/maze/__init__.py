"""One-shot navigation in a first-person maze (Exp 7, Section 3.2.3).

The I-maze task of Mirowski et al. (2017): each episode hides a goal in one
of a text map's candidate cells; the agent, seeing a ray-cast first-person
view, is paid for reaching it and respawned, the goal staying put, so that an
agent with memory returns faster than it first found it. `maps` parses and
checks the maps (and holds the built-in `I_MAZE`), `task` the rules and
dynamics (`MazeTask`, `MazeConfig`), `render` the view, `plot` a map seen
from above.
"""

from environments.maze.maps import (I_MAZE, MazeError, MazeMap, load_maze,
                                    parse_maze)
from environments.maze.plot import plot_maze
from environments.maze.render import GOAL_RGB, SKY_RGB
from environments.maze.task import MazeConfig, MazeTask
