"""Periodic frozen evaluation during training, and the best checkpoint by it.

As Stable-Baselines3's `EvalCallback` and RLlib's evaluation interval do:
every `eval_every` updates the run plays the task's held-out variant
(`evaluation.test_core`: Harlow's test images; other tasks fresh episodes of
the same task) with the current weights frozen, and logs the result to
TensorBoard beside the training curve (RUN_DIR/tb/heldout/, the same tags as
the training scalars, so TensorBoard draws both in one chart). The
checkpoint with the best score (the task's sweep metric in `meta_rl.task_specs`, e.g. Harlow's
`p_correct_later`) is kept in RUN_DIR/checkpoints/best/ with `best.json`,
and `experiment.train` exports it at the end when asked
(`RunConfig.export_which='best'`).

`HeldOutEvaluator` plays a fixed set of episodes (the same environment and
action draws every time: `seed`), one per environment of a batch, in one
compiled `tf.function`: the environment, the agent and the episode sums in
the graph, no gradient, nothing recorded per step. Its numbers equal those of
`evaluation.play_episodes` + `evaluation.summarise` with the same seed (the
same keys are drawn), so a held-out point of a training run is what
`launch/evaluate.py` would report for that checkpoint on those episodes.
"""

import json
import math
import os
import shutil
import time
from typing import Any, Dict, Mapping, Optional, Tuple

import tensorflow as tf

from environments import core as core_lib
from meta_rl import evaluation
from meta_rl import files
from meta_rl import metrics as metrics_lib
from meta_rl import task_specs
from meta_rl.evaluation import rollout
from meta_rl.run import progress

# Inside RUN_DIR/checkpoints/.
BEST_DIR = 'best'
BEST_FILE = 'best.json'
# RUN_DIR/tb/<this>: the held-out scalars, tagged as the training ones.
TB_RUN = 'heldout'


class HeldOutEvaluator:
  """Plays `num_episodes` held-out episodes with the agent's current weights.

  Attributes:
    metric, mode: the score (a logged scalar's name) and whether higher
      ('max') or lower ('min') is better: the test core's sweep metric (`meta_rl.task_specs`).
  """

  def __init__(self, core: core_lib.BatchedCore, agent, num_episodes: int,
               seed: int = 1, greedy: bool = False):
    if num_episodes < 1:
      raise ValueError(f'num_episodes must be >= 1, got {num_episodes}')
    self.core = core
    self.num_episodes = num_episodes
    self.seed = seed
    self.metric, self.mode = task_specs.sweep_metric(core)
    self._policy = evaluation.AgentPolicy(agent, greedy)
    root = core_lib.make_key(seed)
    state, _ = core.reset(core_lib.fold_in(root, -1), 1)
    _, probe = core.step(root, state, tf.zeros([1], tf.int32))
    self._keys = metrics_lib.episode_keys(probe.metrics)
    self._play = tf.function(self._play_fn, autograph=True)

  def _play_fn(self):
    """Episode sums [N, M] of the first episode of each of N environments
    (`metrics_lib.episode_keys` columns), and the steps taken: the episodes
    and draws of `evaluation.play_episodes` (`in_graph_episodes`)."""
    n = self.num_episodes

    def collect(_, carry, tr):
      running, totals = carry
      # Only each environment's first episode counts.
      return metrics_lib.track_episodes(
          running, totals, tr.step.reward, tr.step.metrics,
          tf.logical_and(tr.step.last, tr.alive))

    zero = metrics_lib.zero_episode_sums(self._keys, n)
    (_, totals), steps = rollout.in_graph_episodes(
        self.core, self._policy, n, self.seed, collect, (zero, zero))
    return totals, steps

  def __call__(self) -> Dict[str, float]:
    """The held-out scalars: `episode_return`, `episode_<metric>` per
    episode and the task's derived metrics (as `metrics.summarise` gives
    the training ones), and `heldout_steps` (agent steps played)."""
    totals, steps = self._play()
    window = {metrics_lib.SUM_PREFIX + k: float(v) for k, v in
              metrics_lib.sum_over_batch(self._keys, totals).items()}
    out = metrics_lib.summarise(window, 1, self.core.derived_metrics)
    out['heldout_steps'] = float(steps) * self.num_episodes
    return out

  def score(self, scalars: Mapping[str, float]) -> Optional[float]:
    """The score of `scalars` (None if they lack it or it is not finite)."""
    value = scalars.get(self.metric)
    if value is None or not math.isfinite(value):
      return None
    return float(value)

  def better(self, score: Optional[float], best: Optional[float]) -> bool:
    """Whether `score` beats `best` (ties keep the earlier checkpoint)."""
    if score is None:
      return False
    if best is None:
      return True
    return score > best if self.mode == 'max' else score < best


def best_dir(run_dir: str) -> str:
  return os.path.join(run_dir, 'checkpoints', BEST_DIR)


def read_best(run_dir: str) -> Optional[Dict[str, Any]]:
  """The run's best.json (update, env_steps, metric, mode, score, scalars,
  checkpoint prefix relative to the run dir), or None if there is none or
  it names files that are not there. A damaged best.json counts as none."""
  path = os.path.join(best_dir(run_dir), BEST_FILE)
  try:
    with open(path) as f:
      best = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(best, dict) or not isinstance(best.get('update'), int):
    return None
  score = best.get('score')
  if not isinstance(best.get('metric'), str) or isinstance(score, bool) or (
      not isinstance(score, (int, float))) or not math.isfinite(score):
    return None
  prefix = os.path.join(run_dir, best.get('checkpoint', ''))
  if not (os.path.exists(prefix + '.index') and
          tf.io.gfile.glob(prefix + '.data-*')):
    return None
  return best


def same_evaluation(best: Mapping[str, Any], evaluator: HeldOutEvaluator
                    ) -> bool:
  """Whether `best` (a best.json) was scored on the episodes `evaluator`
  plays, by the same metric: only then do their scores compare."""
  return (best.get('metric'), best.get('mode'), best.get('episodes'),
          best.get('seed')) == (evaluator.metric, evaluator.mode,
                                evaluator.num_episodes, evaluator.seed)


def best_prefix(run_dir: str) -> Optional[str]:
  """The checkpoint prefix of the run's best checkpoint, or None."""
  best = read_best(run_dir)
  return None if best is None else os.path.join(run_dir, best['checkpoint'])


def keep_best(run_dir: str, prefix: str, record: Dict[str, Any]) -> str:
  """Makes checkpoint `prefix` the run's best: copies its files into
  RUN_DIR/checkpoints/best/, then writes best.json (`record` plus the
  copy's prefix) atomically, then removes the previous best's files; a kill
  at any point leaves a best.json that names complete files. Returns the
  copy's prefix."""
  directory = best_dir(run_dir)
  os.makedirs(directory, exist_ok=True)
  name = os.path.basename(prefix)
  if tf.io.gfile.glob(os.path.join(directory, name + '.*')):
    # The same checkpoint name again (a resume from an older checkpoint):
    # its files are replaced one by one below, so no best.json may name
    # them meanwhile.
    try:
      os.remove(os.path.join(directory, BEST_FILE))
    except OSError:
      pass
  for f in tf.io.gfile.glob(prefix + '.*'):
    target = os.path.join(directory, os.path.basename(f))
    tf.io.gfile.copy(f, target + '.tmp', overwrite=True)
    os.replace(target + '.tmp', target)
  copy = os.path.join(directory, name)
  files.write_json(os.path.join(directory, BEST_FILE), dict(
      record, checkpoint=os.path.relpath(copy, run_dir)))
  for f in os.listdir(directory):
    if f != BEST_FILE and not f.startswith(name + '.'):
      path = os.path.join(directory, f)
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
      else:
        os.remove(path)
  return copy


def export_metadata(best: Dict[str, Any]) -> Dict[str, Any]:
  """What a SavedModel exported from the best checkpoint says of it."""
  return {'selected': 'best', 'heldout': {
      k: best[k] for k in ('metric', 'mode', 'score', 'episodes', 'seed',
                           'scalars') if k in best}}


def describe(best: Optional[Dict[str, Any]]) -> str:
  if not best:
    return 'none yet'
  return f'{best["score"]:.3f} at update {best["update"]}'


class HeldOutHook:
  """Held-out evaluation inside `run.loop.run`: `hook(u)` plays the
  evaluator's episodes with update `u`'s weights frozen, writes the scalars
  to TensorBoard (RUN_DIR/tb/heldout/, the training tags) and a line to
  `log`; a checkpoint that beats the best score so far (`read_best`, kept
  across resumes) is written if it is not yet and copied to
  RUN_DIR/checkpoints/best/ (`keep_best`). A best scored on other episodes
  (another seed or number of episodes, or metric) is chosen anew.
  """

  def __init__(self, evaluator: HeldOutEvaluator, trainer, run_dir: str,
               checkpoints, log, name: str):
    self._evaluator = evaluator
    self._trainer = trainer
    self._run_dir = run_dir
    self._checkpoints = checkpoints
    self._log = log
    self._name = name
    self._writer = tf.summary.create_file_writer(
        os.path.join(run_dir, 'tb', TB_RUN))
    self._best = read_best(run_dir)
    if self._best is not None and not same_evaluation(self._best, evaluator):
      # Scores of other episodes (another --eval_seed or --eval_episodes)
      # do not compare: the best is chosen anew from here on.
      log(f'[{name}] the held-out evaluations changed (was '
          f'{self._best.get("episodes")} episodes of seed '
          f'{self._best.get("seed")}, {self._best.get("metric")}); the best '
          'checkpoint is chosen anew')
      self._best = None

  def __call__(self, u: int) -> None:
    evaluator, trainer = self._evaluator, self._trainer
    t0 = time.time()
    scalars = evaluator()
    seconds = time.time() - t0
    score = evaluator.score(scalars)
    with self._writer.as_default(step=trainer.env_steps):
      for k, v in scalars.items():
        tf.summary.scalar(k, v)
    self._writer.flush()
    kept = ''
    if evaluator.better(score, self._best and self._best.get('score')):
      record = {'update': u, 'env_steps': trainer.env_steps,
                'metric': evaluator.metric, 'mode': evaluator.mode,
                'score': score, 'episodes': evaluator.num_episodes,
                'seed': evaluator.seed, 'scalars': scalars}
      keep_best(self._run_dir, self._checkpoints.of_update(u), record)
      self._best = read_best(self._run_dir)
      kept = ', kept as the best'
    keys = [evaluator.metric, *(k for k in trainer.progress_metrics
                                if k != evaluator.metric)]
    self._log(f'[{self._name}] held out at update {u} '
              f'({evaluator.num_episodes} episodes, {seconds:.1f} s): '
              f'{progress.format_scalars(scalars, keys)}{kept}; best '
              f'{describe(self._best)}')

  def close(self) -> None:
    self._writer.close()


def evaluator_for(task_name: str, task_kwargs: Mapping[str, Any],
                  action_repeat: int, agent, num_episodes: int,
                  seed: int) -> Tuple[HeldOutEvaluator, Dict[str, Any]]:
  """The evaluator of a run on `task_name`: its held-out variant
  (`evaluation.test_core`) with the run's task arguments; and the test
  task's arguments."""
  core, kwargs = evaluation.test_core(
      task_name, {'task': task_name, 'task_kwargs': dict(task_kwargs),
                  'action_repeat': action_repeat})
  return HeldOutEvaluator(core, agent, num_episodes, seed), kwargs
