"""Episode bookkeeping and the scalars a run logs, for any task.

A task reports per-step measures in `StepOutput.metrics` (e.g. `regret`).
While playing, `track_episodes` keeps each environment's running sums
(`return` and every metric) and, where an episode ends, adds them to totals
over finished episodes. The trainers return such totals with every update
under `SUM_PREFIX`; `summarise` turns a window of updates into the logged
scalars: the mean of every per-update scalar, per-episode means of every
episode sum (`episode_return`, `episode_regret`, ...) and the task's own
`derived_metrics`.
"""

from typing import Callable, Dict, Mapping, Tuple

import tensorflow as tf

# Keys of trainer outputs that are sums over an update (counts, episode sums),
# summed rather than averaged over a logging window.
SUM_PREFIX = 'sum/'


def track_episodes(running: Mapping[str, tf.Tensor],
                   totals: Mapping[str, tf.Tensor], reward: tf.Tensor,
                   metrics: Mapping[str, tf.Tensor],
                   last: tf.Tensor) -> Tuple[Dict[str, tf.Tensor],
                                             Dict[str, tf.Tensor]]:
  """One step of episode bookkeeping for B environments.

  Args:
    running: per-environment sums [B] of the current episodes: `return` and
      each metric name.
    totals: scalar sums over finished episodes: `episodes` and the same keys.
    reward: float32 [B] reward of the step.
    metrics: float32 [B] task metrics of the step (`StepOutput.metrics`).
    last: bool [B], True where the step ended an episode.
  Returns:
    (running, totals) after the step; running sums restart where `last`.
  """
  reserved = {'return', 'episodes'} & set(metrics)
  if reserved:
    raise ValueError(f'task metric names {sorted(reserved)} are reserved')
  values = dict(metrics, **{'return': reward})
  done = tf.cast(last, tf.float32)
  running = {k: running[k] + tf.cast(v, tf.float32) for k, v in values.items()}
  totals = dict(totals)
  totals['episodes'] = totals['episodes'] + tf.reduce_sum(done)
  for k, v in running.items():
    totals[k] = totals[k] + tf.reduce_sum(done * v)
  running = {k: v * (1.0 - done) for k, v in running.items()}
  return running, totals


def zero_episode_sums(metric_names, batch_size) -> Tuple[Dict, Dict]:
  """Empty (running, totals) for `track_episodes`."""
  keys = ['return', *metric_names]
  running = {k: tf.zeros([batch_size], tf.float32) for k in keys}
  totals = {k: tf.constant(0.0) for k in ['episodes', *keys]}
  return running, totals


def summarise(window: Mapping[str, float], num_updates: int,
              derived: Callable[[Mapping[str, float]], Dict[str, float]] = None
              ) -> Dict[str, float]:
  """Logged scalars from the summed trainer outputs of `num_updates` updates.

  Keys without `SUM_PREFIX` are averaged over the updates. `sum/episodes`
  counts finished episodes; every other `sum/<name>` whose name is an episode
  sum gives `episode_<name>` = sum / episodes, and `derived(totals)` adds the
  task's own scalars. Nothing per-episode is logged for a window without a finished
  episode.
  """
  n = max(num_updates, 1)
  out = {k: v / n for k, v in window.items() if not k.startswith(SUM_PREFIX)}
  totals = {k[len(SUM_PREFIX):]: v for k, v in window.items()
            if k.startswith(SUM_PREFIX)}
  episodes = totals.get('episodes', 0.0)
  if episodes > 0:
    for k, v in totals.items():
      if k != 'episodes':
        out[f'episode_{k}'] = v / episodes
    if derived is not None:
      out.update(derived(totals))
  return out
