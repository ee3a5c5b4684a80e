"""A curriculum: the task's settings as a schedule over training.

A curriculum is a sequence of stages, each `(start, changes)`: from `start`
agent steps (decisions) on, the task's settings are those of the previous
stage with `changes` applied; before the first stage the task is the one the
run's `TaskConfig` describes. The last stage's settings are the task the run
ends on: its held-out evaluations, best checkpoint and export are on that
task. `changes` may name any argument of the task (e.g. Harlow's `momentum`,
`fixation_hold`, `hold_still`, `intertrial_interval`, `turn_degrees`,
`max_steps`) and `action_repeat`; what the agent sees (the observation spec)
and its actions must stay the same.

Written as text (the launchers' `--curriculum`):

    5000000:momentum=0.1;8000000:momentum=0.25,fixation_hold=4,hold_still=true

stages separated by `;`, each `START:key=value,key=value`; START an integer
number of decisions (`5e6` and `5M` are accepted too).

The in-graph trainer switches its task at the first update that starts at or
after a stage's START (`training.InGraphTrainer`'s `stages`): every episode
is restarted there, under the new rules (episodes in progress are cut and
not counted), and the update is compiled anew.
"""

import math
import re
from typing import Any, Dict, Mapping, Sequence, Tuple

# What one stage holds: (start in decisions, {setting: value}).
Stage = Tuple[int, Dict[str, Any]]

_UNITS = {'': 1, 'k': 1_000, 'K': 1_000, 'M': 1_000_000}


def parse(text: str) -> Tuple[Stage, ...]:
  """`--curriculum` text -> stages (values as bool, int, float or str).

  Raises ValueError naming the part that is not understood."""
  text = (text or '').strip()
  if not text:
    return ()
  stages = []
  for part in text.split(';'):
    part = part.strip()
    if not part:
      continue
    if ':' not in part:
      raise ValueError(f'curriculum stage {part!r} is not START:key=value,...')
    start_text, changes_text = part.split(':', 1)
    changes = {}
    for item in changes_text.split(','):
      item = item.strip()
      if not item:
        continue
      key, eq, value = item.partition('=')
      if not eq or not key.strip() or not value.strip():
        raise ValueError(f'curriculum setting {item!r} (stage {part!r}) is '
                         'not key=value')
      changes[key.strip()] = _value(value.strip())
    stages.append((_start(start_text.strip(), part), changes))
  return normalise(stages)


def _start(text: str, part: str) -> int:
  m = re.fullmatch(r'([0-9.eE+]+)\s*([kKM]?)', text)
  try:
    value = float(m.group(1)) * _UNITS[m.group(2)] if m else math.nan
  except ValueError:
    value = math.nan
  if not math.isfinite(value) or value != int(value):
    raise ValueError(f'curriculum stage {part!r}: START {text!r} is not a '
                     'whole number of decisions')
  return int(value)


def _value(text: str) -> Any:
  lower = text.lower()
  if lower in ('true', 'false'):
    return lower == 'true'
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def normalise(stages: Sequence[Sequence[Any]]) -> Tuple[Stage, ...]:
  """Stages as tuples `(int start, dict changes)` (e.g. read back from
  JSON, where they are lists); ValueError unless every start is a whole
  number >= 1, the starts increase and every stage changes something."""
  out = []
  for stage in stages:
    if len(stage) != 2 or not isinstance(stage[1], Mapping):
      raise ValueError(f'a curriculum stage is (start, {{setting: value}}), '
                       f'got {stage!r}')
    start, changes = stage
    if isinstance(start, bool) or not isinstance(start, (int, float)) or (
        not math.isfinite(start) or start != int(start) or start < 1):
      raise ValueError(f'a curriculum stage starts at a whole number of '
                       f'decisions >= 1, got {start!r}')
    if not changes:
      raise ValueError(f'the curriculum stage at {int(start)} changes nothing')
    if out and int(start) <= out[-1][0]:
      raise ValueError(f'curriculum stages must start in increasing order '
                       f'({out[-1][0]}, then {int(start)})')
    out.append((int(start), dict(changes)))
  return tuple(out)


def settings(base: Mapping[str, Any], stages: Sequence[Stage],
             allowed: Sequence[str]) -> Tuple[Tuple[int, Dict[str, Any]], ...]:
  """The settings in force from each start on: `((0, base), (start_1,
  base + changes_1), (start_2, ... + changes_2), ...)`.

  A change's value takes the type of the setting it replaces where that is
  known (so `fixation_hold=4` stays an int and `momentum=0` a float);
  ValueError for a setting not in `allowed` or a value of the wrong kind.
  """
  current = dict(base)
  out = [(0, dict(current))]
  for start, changes in stages:
    for key, value in changes.items():
      if key not in allowed:
        raise ValueError(f'the curriculum changes {key!r}, which is not a '
                         f'setting of the task (one of: '
                         f'{", ".join(sorted(allowed))})')
      current[key] = _as_type_of(current.get(key), value, key)
    out.append((start, dict(current)))
  return tuple(out)


def _as_type_of(old: Any, value: Any, key: str) -> Any:
  if old is None or isinstance(value, type(old)) and not (
      isinstance(value, bool) and not isinstance(old, bool)):
    return value
  if isinstance(old, bool):
    raise ValueError(f'curriculum: {key} is true or false, got {value!r}')
  if isinstance(old, int) and isinstance(value, float) and value == int(value):
    return int(value)
  if isinstance(old, float) and isinstance(value, int) and not isinstance(
      value, bool):
    return float(value)
  raise ValueError(f'curriculum: {key} must be like {old!r}, got {value!r}')


def describe(changes: Mapping[str, Any]) -> str:
  """`key=value, ...` of one stage, for progress lines."""
  return ', '.join(f'{k}={v}' for k, v in changes.items())
