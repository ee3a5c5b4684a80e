"""Maze maps: text in the DeepMind Lab convention, parsed and checked.

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
"""

import dataclasses
from typing import Sequence, Tuple

import numpy as np

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


def cell_centres(cells: Sequence[Tuple[int, int]]) -> np.ndarray:
  """float32 [n, 2]: the (x, y) centres of (row, column) `cells`."""
  return np.array([[c + 0.5, r + 0.5] for r, c in cells],
                  np.float32).reshape(-1, 2)


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
