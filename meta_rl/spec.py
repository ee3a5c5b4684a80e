"""One description of a run: `RunSpec` (task, agent, A2C, training).

A run is described once, by a frozen `RunSpec`, and written the same way
(`RunSpec.to_json`) into RUN_DIR/config.json and into the `run` entry of
every export's `assets.extra/meta_rl.json`. `RunSpec.load` reads it back from
either (a run dir, a SavedModel base path or one version of it):

    spec = RunSpec.load('runs/exp1')                 # config.json
    spec = RunSpec.load('runs/exp1/saved_model')     # the newest export
    spec.task.final().make_core(), spec.agent, spec.a2c, spec.train

Exports written before the `run` entry existed (format_version 1, e.g. the
shipped pretrained policies) give the task they ended on (without the
curriculum that led there) and their `agent_config`, `a2c_config` and
`train_config`.
"""

import dataclasses
import os
from typing import Any, Dict, Mapping, Tuple

import environments
from meta_rl import curriculum as curriculum_lib
from meta_rl.agent import AgentConfig
from meta_rl.training import A2CConfig, TrainConfig

@dataclasses.dataclass(frozen=True)
class TaskConfig:
  """Which task to train on.

  Attributes:
    name: a task of `environments.TASKS`.
    kwargs: the task's own arguments (e.g. `{'num_trials': 100}`).
    action_repeat: primitive steps per agent decision (`ActionRepeat`).
    curriculum: stages `(start, {setting: value})` that change the task's
      settings (any of `kwargs`, and `action_repeat`) from `start` decisions
      on (`meta_rl.curriculum`); the task above is the first stage, the last
      stage's settings the task the run ends on (`final`).
  """
  name: str
  kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  action_repeat: int = 1
  curriculum: Tuple[Tuple[int, Mapping[str, Any]], ...] = ()

  def __post_init__(self):
    object.__setattr__(self, 'curriculum',
                       curriculum_lib.normalise(self.curriculum))

  def make_core(self) -> environments.BatchedCore:
    """The core of this task's first stage (`stages` for the others)."""
    return environments.make_core(self.name, action_repeat=self.action_repeat,
                                  **self.kwargs)

  def stages(self) -> Tuple[Tuple[int, 'TaskConfig'], ...]:
    """`(start in decisions, the task from then on)` for each stage, the
    first at 0; ValueError for a curriculum setting the task does not have
    or a value of the wrong kind."""
    base = dict(self.kwargs, action_repeat=self.action_repeat)
    out = []
    for start, values in curriculum_lib.settings(base, self.curriculum,
                                                 list(base)):
      values = dict(values)
      repeat = values.pop('action_repeat')
      out.append((start, TaskConfig(self.name, values, repeat)))
    return tuple(out)

  def final(self) -> 'TaskConfig':
    """The task the run ends on (itself without a curriculum)."""
    return self.stages()[-1][1]


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """What a run trains: its task, agent, A2C and training configs.

  `to_json` is what config.json holds (and what `--resume` compares) and
  what each export's metadata holds under `run`; `from_json` and `load`
  invert it. Each config validates its own values.
  """
  task: TaskConfig
  agent: AgentConfig = AgentConfig()
  a2c: A2CConfig = A2CConfig()
  train: TrainConfig = TrainConfig()

  def to_json(self) -> Dict[str, Any]:
    """A JSON-serialisable dict: {'task', 'agent', 'a2c', 'train'}."""
    return {'task': dataclasses.asdict(self.task),
            'agent': dataclasses.asdict(self.agent),
            'a2c': dataclasses.asdict(self.a2c),
            'train': dataclasses.asdict(self.train)}

  @classmethod
  def from_json(cls, fields: Mapping[str, Any]) -> 'RunSpec':
    """The spec `to_json` gave; ValueError (one line) if `fields` is not one
    (a section missing, a setting unknown to this version, a bad value)."""
    try:
      return cls(TaskConfig(**fields['task']), AgentConfig(**fields['agent']),
                 A2CConfig(**fields['a2c']), TrainConfig(**fields['train']))
    except (TypeError, KeyError, AttributeError) as e:
      raise ValueError(f'not a run description ({type(e).__name__}: '
                       f'{str(e).splitlines()[0] if str(e) else ""})') from e

  @classmethod
  def from_metadata(cls, metadata: Mapping[str, Any]) -> 'RunSpec':
    """The spec in an export's metadata (`meta_rl.export.read_metadata`):
    its `run` entry, or for a format_version 1 export the task it ended on
    and its `agent_config`, `a2c_config` and `train_config`. ValueError if
    the metadata describes no run (e.g. an agent exported by hand with
    `export_agent`)."""
    if 'run' in metadata:
      return cls.from_json(metadata['run'])
    legacy = ('task', 'agent_config', 'a2c_config', 'train_config')
    missing = [k for k in legacy if k not in metadata]
    if missing:
      raise ValueError('its metadata describes no run (no "run" entry, nor '
                       f'{", ".join(missing)})')
    return cls.from_json({
        'task': {'name': metadata['task'],
                 'kwargs': metadata.get('task_kwargs', {}),
                 'action_repeat': metadata.get('action_repeat', 1)},
        'agent': metadata['agent_config'], 'a2c': metadata['a2c_config'],
        'train': metadata['train_config']})

  @classmethod
  def load(cls, path: str) -> 'RunSpec':
    """The spec of a run dir (RUN_DIR/config.json) or of a SavedModel (a base
    path: its newest version; or one version dir). Raises `RunDirError` (a
    ValueError, one line) for a run dir without a readable run description,
    also for a path that holds neither; ValueError for a SavedModel without
    one."""
    # pylint: disable=g-import-not-at-top
    from meta_rl import export
    from meta_rl.run import rundir
    from meta_rl.run.errors import RunDirError
    if os.path.exists(os.path.join(path, rundir.CONFIG_FILE)):
      config = rundir.read_run_config(path)
      try:
        return cls.from_json(config)
      except ValueError as e:
        raise RunDirError(f'{os.path.join(path, rundir.CONFIG_FILE)}: '
                          f'{str(e).splitlines()[0]}') from e
    try:
      version = export.latest_version_dir(path)
    except FileNotFoundError as e:
      raise RunDirError(f'no {rundir.CONFIG_FILE} or SavedModel in '
                        f'{path}') from e
    try:
      return cls.from_metadata(export.read_metadata(version))
    except ValueError as e:
      raise ValueError(f'{version}: {str(e).splitlines()[0]}') from e

  @classmethod
  def defaults(cls, task_name: str) -> 'RunSpec':
    """Every config at its default, on task `task_name` without arguments."""
    return cls(TaskConfig(task_name))
