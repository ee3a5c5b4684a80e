"""A sweep's trials: the frozen evaluation of each trained agent on split
halves of the test episodes, and the paper's top-k selection."""

import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from meta_rl import files
from meta_rl import task_specs


EVAL_FILE = os.path.join('eval', 'sweep.json')


def save_evaluation(run_dir: str, evaluation: Mapping[str, Any]) -> None:
  path = os.path.join(run_dir, EVAL_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  files.write_text(path, json.dumps(evaluation, indent=1))


def load_evaluation(run_dir: str) -> Optional[Dict[str, Any]]:
  """A trial's saved evaluation, or None (none yet, or unreadable)."""
  try:
    with open(os.path.join(run_dir, EVAL_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _episode_totals(sums: Dict[str, np.ndarray], rows) -> Dict[str, float]:
  """Totals of the episode sums (`evaluation.episode_sums`) over `rows`."""
  totals = {k: float(v[rows].sum()) for k, v in sums.items()}
  totals['episodes'] = float(sums['return'][rows].shape[0])
  return totals


def _score(totals: Mapping[str, float], metric: str, derived) -> Optional[float]:
  from meta_rl import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  scalars = metrics_lib.summarise(
      {metrics_lib.SUM_PREFIX + k: v for k, v in totals.items()}, 1, derived)
  value = scalars.get(metric)
  return None if value is None else float(value)


def evaluate_trial(saved_model: str, num_episodes: int, seed: int
                   ) -> Dict[str, Any]:
  """Plays `num_episodes` test episodes with the SavedModel's agent frozen
  (actions sampled, as `launch/evaluate.py`), on its training task's test
  variant, and scores each half of them by the task's sweep metric (`meta_rl.task_specs`).

  Returns a JSON-serialisable dict: `metric`, `mode`, `num_episodes`,
  `seed`, `saved_model`, and for 'first' and 'second' half: `score` (the
  metric over the half's episodes, as training logs it), `se` (standard
  error of the per-episode scores) and, for a metric that is an episode sum
  (`episode_<m>`), `curve`: its cumulative mean per step.
  """
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  policy = evaluation.SavedModelPolicy(saved_model)
  core, _ = evaluation.test_core(policy.metadata['task'], policy.metadata)
  policy.check_fits_core(core)
  episodes = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
  metric, mode = task_specs.sweep_metric(core)
  n = episodes['rewards'].shape[0]
  out = {'metric': metric, 'mode': mode, 'num_episodes': int(n), 'seed': seed,
         'saved_model': policy.path}
  sums = evaluation.episode_sums(episodes)
  # An episode sum `episode_<s>` has a curve (`evaluation.summarise`).
  column = (sums.get(metric[len('episode_'):])
            if metric.startswith('episode_') else None)
  for half, rows in (('first', slice(0, n // 2)), ('second', slice(n // 2, n))):
    score = _score(_episode_totals(sums, rows), metric, core.derived_metrics)
    per_episode = [_score(_episode_totals(sums, slice(i, i + 1)), metric,
                          core.derived_metrics)
                   for i in range(*rows.indices(n))]
    per_episode = [v for v in per_episode if v is not None]
    se = (float(np.std(per_episode, ddof=1) / np.sqrt(len(per_episode)))
          if len(per_episode) > 1 else None)
    out[half] = {'score': score, 'se': se}
    if column is not None:
      out[half]['curve'] = np.cumsum(column[rows], axis=1).mean(0).tolist()
  return out



@dataclasses.dataclass
class Trial:
  """One trial of a sweep, as the report sees it.

  Attributes:
    trial_id: Ray Tune's id.
    run_dir: its run dir (the Tune trial directory).
    params: the sampled flag values.
    status: 'finished' (trained, exported and evaluated), 'failed' (an
      error, in `error`), 'stopped' (ended early by the scheduler) or
      'unfinished' (interrupted or not started).
    evaluation: `evaluate_trial`'s output for a finished trial.
    error: first line of the error of a failed trial.
    env_steps, seconds: training done (from the last progress report).
    node: id of the Ray node that ran it.
  """
  trial_id: str
  run_dir: str
  params: Dict[str, Any]
  status: str
  evaluation: Optional[Dict[str, Any]] = None
  error: Optional[str] = None
  env_steps: Optional[float] = None
  seconds: Optional[float] = None
  node: Optional[str] = None

  def score(self, half: str) -> Optional[float]:
    if self.evaluation is None:
      return None
    return self.evaluation[half]['score']


def rank(trials: Sequence[Trial], mode: str) -> List[Trial]:
  """Finished trials with a score, best first by their first-half score
  ('min': lowest first)."""
  scored = [t for t in trials if t.status == 'finished'
            and t.score('first') is not None]
  return sorted(scored, key=lambda t: t.score('first'),
                reverse=(mode == 'max'))


def summary(trials: Sequence[Trial], top_k: int, mode: str) -> Dict[str, Any]:
  """The paper's selection: the top k on the first half, reported on the
  second half (mean and standard deviation across the k)."""
  ranked = rank(trials, mode)
  top = ranked[:top_k]
  second = [t.score('second') for t in top]
  counts = {s: sum(t.status == s for t in trials)
            for s in ('finished', 'failed', 'stopped', 'unfinished')}
  return {
      'top_k': top_k,
      'selected': [t.trial_id for t in top],
      'second_half_mean': float(np.mean(second)) if second else None,
      'second_half_sd': float(np.std(second, ddof=1)) if len(second) > 1 else None,
      'best_params': top[0].params if top else None,
      'counts': counts,
  }
