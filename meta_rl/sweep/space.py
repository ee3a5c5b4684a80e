"""Search spaces over a launcher's flags.

A search-space spec is `name=kind:args` items, separated by commas or
newlines (a file may hold one per line, `#` starts a comment):

  loguniform:LOW:HIGH   log-uniform float in [LOW, HIGH)
  uniform:LOW:HIGH      uniform float in [LOW, HIGH)
  randint:LOW:HIGH      integer in [LOW, HIGH)
  choice:A|B|C          one of the values, uniformly
  grid:A|B|C            every value (each sample of the others runs with
                        each of them, as `tune.grid_search`)
"""

import dataclasses
import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

KINDS = ('loguniform', 'uniform', 'randint', 'choice', 'grid')

class SpaceError(ValueError):
  """A search-space spec that cannot be parsed."""


@dataclasses.dataclass(frozen=True)
class Param:
  """One dimension of a search space.

  Attributes:
    name: the launcher flag it sets (e.g. 'learning_rate').
    kind: one of `KINDS`.
    args: (low, high) for loguniform, uniform and randint; the values (as
      written) for choice and grid.
  """
  name: str
  kind: str
  args: Tuple[Any, ...]

  def spec(self) -> str:
    sep = '|' if self.kind in ('choice', 'grid') else ':'
    return f'{self.name}={self.kind}:{sep.join(str(a) for a in self.args)}'

  def to_tune(self):
    """The Ray Tune domain (imports ray.tune)."""
    from ray import tune  # pylint: disable=g-import-not-at-top
    if self.kind == 'loguniform':
      return tune.loguniform(*self.args)
    if self.kind == 'uniform':
      return tune.uniform(*self.args)
    if self.kind == 'randint':
      return tune.randint(*self.args)
    if self.kind == 'choice':
      return tune.choice(list(self.args))
    return tune.grid_search(list(self.args))

  def examples(self) -> List[Any]:
    """Values this dimension can take at its ends (for checking them
    against the launcher's flags before any trial starts)."""
    if self.kind in ('choice', 'grid'):
      return list(self.args)
    if self.kind == 'randint':
      return [self.args[0], self.args[1] - 1]
    return list(self.args)


def _number(text: str, item: str):
  try:
    value = float(text)
  except ValueError:
    raise SpaceError(f'{item}: {text!r} is not a number') from None
  if not math.isfinite(value):
    raise SpaceError(f'{item}: bounds must be finite, got {text}')
  return value


def _param(item: str) -> Param:
  name, eq, rest = item.partition('=')
  name = name.strip()
  kind, colon, args = rest.strip().partition(':')
  if not eq or not name or not colon:
    raise SpaceError(f'bad search-space item {item!r}: expected '
                     'name=kind:args, e.g. learning_rate=loguniform:1e-4:1e-2')
  if kind not in KINDS:
    raise SpaceError(f'{item}: unknown kind {kind!r}; choose one of '
                     f'{", ".join(KINDS)}')
  if kind in ('choice', 'grid'):
    values = [v.strip() for v in args.split('|')]
    if not all(values):
      raise SpaceError(f'{item}: empty value in {args!r}')
    return Param(name, kind, tuple(_typed(v) for v in values))
  bounds = args.split(':')
  if len(bounds) != 2:
    raise SpaceError(f'{item}: {kind} takes LOW:HIGH, got {args!r}')
  low, high = (_number(b, item) for b in bounds)
  if kind == 'randint':
    if low != int(low) or high != int(high):
      raise SpaceError(f'{item}: randint bounds must be integers')
    low, high = int(low), int(high)
  if not low < high:
    raise SpaceError(f'{item}: LOW must be below HIGH')
  if kind == 'loguniform' and low <= 0:
    raise SpaceError(f'{item}: loguniform needs LOW > 0')
  return Param(name, kind, (low, high))


def _typed(text: str):
  """A choice value as int, float or the string itself (e.g. 'adam')."""
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def parse_space(text: str) -> Dict[str, Param]:
  """Parses a search-space spec (see the module docstring); a later item for
  the same name replaces an earlier one. Raises SpaceError."""
  params = {}
  for line in text.splitlines():
    line = line.split('#', 1)[0]
    for item in line.split(','):
      if item.strip():
        p = _param(item.strip())
        params[p.name] = p
  return params


def space_spec(space: Mapping[str, Param]) -> str:
  return ','.join(p.spec() for p in space.values())


def resolve_space(name: str, default: Optional[str], space: Optional[str],
                  space_file: Optional[str]) -> Dict[str, Param]:
  """A sweep's search space: the items of the file `space_file`, then those
  of `space`; with neither, `default` (launcher `name`'s default spec).
  Raises SpaceError (a ValueError) with one line: no default, a file that
  cannot be read, a bad spec, an empty space."""
  if space is None and space_file is None:
    if default is None:
      raise SpaceError(f'`launcher` {name} has no default search space; give '
                       '`space` or `space_file`')
    return parse_space(default)
  params = {}
  try:
    if space_file:
      with open(space_file) as f:
        params.update(parse_space(f.read()))
    if space:
      params.update(parse_space(space))
  except OSError as e:
    raise SpaceError(f'cannot read `space_file`: {e.strerror}: '
                     f'{space_file}') from e
  except SpaceError as e:
    raise SpaceError(f'bad search space: {e}') from e
  if not params:
    raise SpaceError('the search space is empty')
  return params
