"""One-shot navigation in a first-person maze (Exp 7, Section 3.2.3)."""

from environments.maze.task import (GOAL_RGB, I_MAZE, SKY_RGB, MazeConfig,
                                    MazeError, MazeMap, MazeTask, load_maze,
                                    parse_maze, plot_maze)
