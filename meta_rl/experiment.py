"""The library's entry point: configs in, run dir and SavedModel out.

    from meta_rl import experiment
    result = experiment.train(
        experiment.TaskConfig('independent'), AgentConfig(), A2CConfig(),
        TrainConfig(total_steps=10_000_000), experiment.RunConfig('runs/exp1'))
    result.saved_model   # 'runs/exp1/saved_model/1'

Launchers, tests, sweeps and notebooks call `train`. It never reads flags or
exits the process: problems are typed exceptions (`RunDirError` for a run dir
that cannot be used as asked, `ValueError` for a bad task or config,
`NonFiniteLossError` when training diverges), and a run stopped by a signal
returns with `stopped_by` set and nothing exported (a partly trained agent
must not land in the serving path).
"""

import dataclasses
import os
import sys
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import environments
from meta_rl import agent as agent_lib
from meta_rl import evaluation
from meta_rl import export
from meta_rl import preflight
from meta_rl import training
from meta_rl.run import checkpoints, errors, heldout, loop, rundir
from meta_rl.spec import RunSpec, TaskConfig
from meta_rl.run.errors import RunDirError  # pylint: disable=unused-import
from meta_rl.training import NonFiniteLossError  # pylint: disable=unused-import


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Where and how the run is kept.

  Attributes:
    run_dir: the run directory (see `meta_rl.run.rundir`).
    resume: continue the run in `run_dir` from its latest checkpoint.
    checkpoint_every: updates between checkpoints.
    log_every_secs: seconds between progress lines and TensorBoard points.
    handle_signals: stop cleanly on SIGTERM (main thread only).
    export: write a SavedModel at the end.
    keep_every: also keep the checkpoint of every multiple of this many
      updates for good (RUN_DIR/checkpoints/kept/), for analyses over
      training; None keeps only the latest 3.
    adopt_dir: a new run may use an existing directory that holds files
      other than a run's (e.g. a Ray Tune trial directory); they are kept.
    histogram_every_secs: seconds between TensorBoard histograms (policy
      logits, values, per-layer gradient norms; written at a progress line,
      also the first and the last); 0: at every progress line; None: never.
    eval_every: every this many updates (and after the last), play
      `eval_episodes` episodes of the task's held-out variant with the
      weights frozen (`meta_rl.heldout`), log them to TensorBoard
      (RUN_DIR/tb/heldout/) and keep the best checkpoint by the task's
      score in RUN_DIR/checkpoints/best/; None or 0: never.
    eval_episodes: episodes per held-out evaluation (one per environment
      of a batch).
    eval_seed: seed of the held-out episodes and action draws (the same at
      every evaluation); keep it apart from the seed of a final report.
    export_which: 'last' exports the weights at the end of training; 'best'
      the best held-out checkpoint (needs `eval_every`), which the
      evaluation after the last update also competes for.
  """
  run_dir: str
  resume: bool = False
  checkpoint_every: int = 200
  log_every_secs: float = 5.0
  handle_signals: bool = True
  export: bool = True
  keep_every: Optional[int] = None
  adopt_dir: bool = False
  histogram_every_secs: Optional[float] = 60.0
  eval_every: Optional[int] = None
  eval_episodes: int = 64
  eval_seed: int = 1
  export_which: str = 'last'

  def __post_init__(self):
    if self.export_which not in EXPORT_CHOICES:
      raise ValueError(f'export_which must be one of '
                       f'{", ".join(EXPORT_CHOICES)}, got {self.export_which!r}')
    if self.eval_every is not None and self.eval_every < 0:
      raise ValueError(f'eval_every must be >= 0 (0 or None: never), got '
                       f'{self.eval_every}')
    if self.eval_episodes < 1:
      raise ValueError(f'eval_episodes must be >= 1, got {self.eval_episodes}')
    if self.export_which == 'best' and not self.eval_every:
      raise ValueError("export_which='best' needs eval_every (the best "
                       'checkpoint is chosen by the held-out evaluations)')


# What `RunConfig.export_which` may be.
EXPORT_CHOICES = ('last', 'best')


@dataclasses.dataclass
class TrainResult:
  run_dir: str
  # None if stopped early or export=False; for a finished run resumed, its
  # existing export of the final update (`exported` False) if there is one.
  saved_model: Optional[str]
  num_updates: int
  env_steps: int
  frames: int
  seconds: float
  last_log: Dict[str, float]
  stopped_by: Optional[int]
  exported: bool = False  # whether this call wrote `saved_model`
  checkpoint: Optional[str] = None  # the latest checkpoint at the end

  @property
  def stopped_early(self) -> bool:
    return self.stopped_by is not None


def _task_kwargs(task: TaskConfig, core) -> Dict[str, Any]:
  """The task's arguments, with its trial count made explicit (so that
  evaluation tests on the episode length the agent was trained on)."""
  kwargs = dict(task.kwargs)
  base = getattr(core, 'core', core)  # under ActionRepeat
  if hasattr(base, 'num_trials'):
    kwargs.setdefault('num_trials', base.num_trials)
  return kwargs


def _export(net, spec: RunSpec, core, run_dir: str,
            metadata: Mapping[str, Any]) -> str:
  """Writes RUN_DIR/saved_model/<next version>/ with the run's metadata: the
  run's spec (`run`, as in config.json) and the task the export serves, the
  one the run ends on (`task`, `task_kwargs`, `action_repeat`; `core` is its
  core)."""
  final = spec.task.final()
  meta = dict(metadata, task=final.name,
              task_kwargs=_task_kwargs(final, core),
              action_repeat=final.action_repeat, run=spec.to_json(),
              exported_at=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
  return export.export_agent(net, core.observation_spec(),
                             os.path.join(run_dir, 'saved_model'), meta)


def export_checkpoint(run_dir: str, update: Optional[int] = None,
                      best: bool = False) -> str:
  """Exports the agent of one of a run's training checkpoints (by default
  the newest that is not damaged, each newer one skipped with a line on
  stderr saying why; `update` picks one of `checkpoints.kept_checkpoints`, see
  `checkpoints.find_checkpoint`) as the next
  SavedModel version of RUN_DIR/saved_model/, e.g. for a run stopped before
  its end (which exports nothing by itself) or an earlier kept checkpoint.
  With `best`, the run's best held-out checkpoint (`heldout.read_best`,
  `RunConfig.eval_every`) instead. The metadata names the checkpoint.
  Returns the SavedModel path.

  Raises:
    RunDirError: no run configuration, no such checkpoint, a damaged
      `update`, or no checkpoint that is not damaged.
    ValueError: the checkpoint does not hold this run's agent.
  """
  spec = RunSpec.load(run_dir)
  extra = {}
  if best:
    if update is not None:
      raise ValueError('give either update or best, not both')
    record = heldout.read_best(run_dir)
    if record is None:
      raise RunDirError(f'no best held-out checkpoint in {run_dir} (the run '
                        'was not evaluated while training: eval_every)')
    prefix = os.path.join(run_dir, record['checkpoint'])
    extra = heldout.export_metadata(record)
  else:
    prefix = checkpoints.find_checkpoint(run_dir, update)
  update = int(prefix.rsplit('-', 1)[-1])
  if best:
    newest = checkpoints.disk_checkpoints(os.path.join(run_dir, 'checkpoints'))
    extra['trained_updates'] = max(newest) if newest else update
  core = spec.task.final().make_core()
  net = evaluation.checkpoint_agent(run_dir, prefix, core)
  steps = update * spec.train.batch_size * spec.train.unroll_length
  return _export(net, spec, core, run_dir, dict(
      extra, num_updates=update, env_steps=steps,
      checkpoint=os.path.relpath(prefix, run_dir)))


def make_trainer(task: TaskConfig, net, a2c: training.A2CConfig,
                 train_config: training.TrainConfig,
                 log: Optional[Callable[[str], None]] = None,
                 check: bool = False,
                 first_core: Optional[environments.BatchedCore] = None
                 ) -> training.InGraphTrainer:
  """The in-graph trainer of `task` (its curriculum's stages included, each
  stage's start rounded up to a whole update); with `check`, each stage's
  core passes `preflight.check_run` before any batch-sized tensor is made.
  Its `final_core` is the core of the task the run ends on. `first_core`:
  the first stage's core if already built (`task.make_core()`)."""
  per_update = train_config.batch_size * train_config.unroll_length
  cores = []
  for i, (start, stage) in enumerate(task.stages()):
    core = first_core if i == 0 and first_core is not None else (
        stage.make_core())
    if check:
      preflight.check_run(core, net, train_config)
    cores.append((-(-start // per_update), core))
  return training.InGraphTrainer(cores[0][1], net, a2c, train_config,
                                 stages=cores[1:], log=log)


def train(task: TaskConfig, agent: agent_lib.AgentConfig,
          a2c: training.A2CConfig, train_config: training.TrainConfig,
          run: RunConfig, *, metadata: Optional[Mapping[str, Any]] = None,
          log: Optional[Callable[[str], None]] = None,
          on_log: Optional[Callable[[int, Dict[str, float]], None]] = None
          ) -> TrainResult:
  """Trains an agent on a task in the graph, checkpointing into `run.run_dir`,
  and exports it to `run_dir/saved_model/<version>/`.

  Args:
    task, agent, a2c, train_config: what to train (saved in config.json).
    run: where, and resume/checkpoint/log settings.
    metadata: extra JSON-serialisable entries for the SavedModel's metadata
      (e.g. the launcher's flags).
    log: where progress lines go (default: stderr).
    on_log: called with (update, scalars) at every progress line.
  Returns:
    TrainResult.
  Raises:
    ValueError: unknown task, core or optimizer, or bad task arguments.
    RunDirError: the run dir exists (without resume), or cannot be resumed.
    NonFiniteLossError: the loss diverged; the last checkpoint is the last
      good one.
  """
  log = log or (lambda line: print(line, file=sys.stderr, flush=True))
  extended = None
  if run.resume:
    train_config, extended = _continued(run.run_dir, train_config, task.name)
  # Everything that can fail on bad settings comes before the run dir; a
  # run far too big for the machine before anything is built.
  stages = task.stages()
  for _, stage in stages:
    preflight.check_config(stage.kwargs, agent, train_config)
  core = task.make_core()
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions, agent)
  trainer = make_trainer(task, net, a2c, train_config, log=lambda line: log(
      f'[{task.name}] {line}'), check=True, first_core=core)
  final = task.final()
  core = trainer.final_core
  evaluator = None
  if run.eval_every:
    evaluator, _ = heldout.evaluator_for(
        final.name, final.kwargs, final.action_repeat, net, run.eval_episodes,
        run.eval_seed)
  # One process per run dir, from before the dir is checked to the export.
  lock = rundir.RunDirLock(run.run_dir, log=lambda line: log(
      f'[{task.name}] {line}'))
  try:
    rundir.prepare_run_dir(
        run.run_dir, RunSpec(task, agent, a2c, train_config).to_json(),
        run.resume, defaults=RunSpec.defaults(task.name).to_json(),
        adopt=run.adopt_dir)
  except BaseException:
    lock.release(remove_dir=True)  # a dir made only for the lock goes too
    raise
  try:
    return _train_locked(
        task=task, agent=agent, a2c=a2c, train_config=train_config, run=run,
        metadata=metadata, log=log, on_log=on_log, core=core, net=net,
        trainer=trainer, evaluator=evaluator, extended=extended)
  except Exception as e:  # pylint: disable=broad-except
    if not errors.is_disk_full(e):
      raise
    latest = checkpoints.disk_checkpoints(os.path.join(run.run_dir, 'checkpoints'))
    last = (f'the last good checkpoint is '
            f'{list(latest.values())[-1]}' if latest else 'no checkpoint yet')
    raise errors.DiskFullError(
        f'no space left on the device writing {run.run_dir}; nothing written '
        f'before is lost ({last}); free some space and continue it '
        '(`resume`)') from e
  finally:
    lock.release()


def _train_locked(*, task, agent, a2c, train_config, run, metadata, log,
                  on_log, core, net, trainer, evaluator, extended
                  ) -> 'TrainResult':
  """The part of `train` that runs while it holds the run dir."""
  if extended:
    log(extended)
  result = loop.run(trainer, run.run_dir, resume=run.resume,
                      checkpoint_every=run.checkpoint_every,
                      log_every_secs=run.log_every_secs, name=task.name,
                      log=log, on_log=on_log,
                      handle_signals=run.handle_signals,
                      keep_every=run.keep_every,
                      histogram_every_secs=run.histogram_every_secs,
                      evaluator=evaluator, eval_every=run.eval_every)
  path, exported = None, False
  if run.export and not result.stopped_early:
    if not result.trained:  # a finished run resumed
      path = _final_export(run.run_dir, result.num_updates, run.export_which)
      if path:
        log(f'[{task.name}] its SavedModel is {path} (launch/export.py '
            'exports a checkpoint again)')
    if path is None:
      meta = dict(metadata or {}, num_updates=result.num_updates,
                  env_steps=result.env_steps, frames=result.frames,
                  trained_updates=result.num_updates, selected='last')
      if result.checkpoint:
        meta['checkpoint'] = os.path.relpath(result.checkpoint, run.run_dir)
      exporting = net
      best = heldout.read_best(run.run_dir) if run.export_which == 'best' else None
      if best is not None and best['update'] != result.num_updates:
        exporting = evaluation.checkpoint_agent(
            run.run_dir, os.path.join(run.run_dir, best['checkpoint']), core)
        meta.update(num_updates=best['update'], env_steps=best['env_steps'],
                    checkpoint=best['checkpoint'])
        meta.pop('frames')
      if best is not None:
        meta.update(heldout.export_metadata(best))
        log(f'[{task.name}] exporting the best held-out checkpoint: '
            f'{best["metric"]} {heldout.describe(best)} (the last update: '
            f'{result.num_updates})')
      elif run.export_which == 'best':
        log(f'[{task.name}] no held-out evaluation gave a score; exporting '
            'the last update')
      path = _export(exporting, RunSpec(task, agent, a2c, train_config), core,
                     run.run_dir, meta)
      exported = True
  return TrainResult(run.run_dir, path, result.num_updates, result.env_steps,
                     result.frames, result.seconds, result.last_log,
                     result.stopped_by, exported, result.checkpoint)


def _continued(run_dir: str, train_config: training.TrainConfig, name: str
               ) -> Tuple[training.TrainConfig, Optional[str]]:
  """`train_config` for resuming the run in `run_dir`, and a line to log
  if it changes `total_steps`: with another `total_steps` (extending or
  shortening the run), its schedules keep the length they had
  (`schedule_steps`). A run dir without a readable config.json is left to
  `rundir.prepare_run_dir` to refuse."""
  try:
    saved = RunSpec.load(run_dir).train
  except (ValueError, OSError):
    return train_config, None
  if train_config.schedule_steps is not None:
    return train_config, None  # given: prepare_run_dir checks it is the run's
  schedule = saved.schedule_steps or saved.total_steps
  line = None
  if train_config.total_steps != saved.total_steps:
    line = (f'[{name}] total_steps {saved.total_steps} -> '
            f'{train_config.total_steps}; the learning-rate and entropy '
            f'schedules keep their length ({schedule} steps), then their '
            'final values')
  return dataclasses.replace(
      train_config, schedule_steps=(
          None if schedule == train_config.total_steps else schedule)), line


def _final_export(run_dir: str, num_updates: int,
                  selected: str = 'last') -> Optional[str]:
  """The newest complete SavedModel of RUN_DIR/saved_model/ that a run of
  `num_updates` updates exported at its end, selecting its `selected`
  ('last' or 'best') checkpoint; or None."""
  base = os.path.join(run_dir, 'saved_model')
  complete, _ = export.complete_versions(base)
  for version in reversed(complete):
    path = os.path.join(base, str(version))
    try:
      meta = export.read_metadata(path)
      if (meta.get('trained_updates', meta.get('num_updates')) == num_updates
          and meta.get('selected', 'last') == selected):
        return path
    except (OSError, ValueError):
      continue
  return None
