"""Episode bookkeeping and the scalars a run logs, for any task.

A task reports per-step measures in `StepOutput.metrics` (e.g. `regret`).
While playing, `track_episodes` keeps each environment's running sums
(`return` and every metric) and, where an episode ends, adds them to totals
over finished episodes. The trainers return such totals with every update
under `SUM_PREFIX`; `summarise` turns a window of updates into the logged
scalars: the mean of every per-update scalar, per-episode means of every
episode sum (`episode_return`, `episode_regret`, ...) and the task's own
`derived_metrics`.

One naming scheme, in training logs, held-out evaluation while training,
frozen evaluation (`evaluation.summarise`), TensorBoard, sweeps and the
HParams dashboard:
  `<s>`             a per-step measure; the episode sums s are `return`
                    (of the rewards) and each task metric (e.g. `regret`);
  `episode_<s>`     the mean over episodes of the episode sum of s;
  `episode_<s>_se`  its standard error (frozen evaluation);
  `cumulative_<s>`, `cumulative_<s>_se`, `<s>_per_step`: its curves over
                    the steps of an episode (frozen evaluation);
  derived metrics   the task's own names (`p_correct_later`, ...);
  `eval/<task>/<name>`  the same names for a frozen evaluation in
                    TensorBoard (`evaluation.write_tensorboard`).
"""

from typing import Callable, Dict, Mapping, Tuple

import tensorflow as tf

# Keys of trainer outputs that are sums over an update (counts, episode sums),
# summed rather than averaged over a logging window.
SUM_PREFIX = 'sum/'


def episode_keys(metric_names) -> Tuple[str, ...]:
  """Columns of the episode sums: `episodes`, `return`, then the metrics."""
  reserved = {'return', 'episodes'} & set(metric_names)
  if reserved:
    raise ValueError(f'task metric names {sorted(reserved)} are reserved')
  return ('episodes', 'return', *sorted(metric_names))


def zero_episode_sums(keys, batch_size) -> tf.Tensor:
  """Zero sums float32 [B, len(keys)] (running or finished)."""
  return tf.zeros([batch_size, len(keys)], tf.float32)


def track_episodes(running: tf.Tensor, totals: tf.Tensor, reward: tf.Tensor,
                   metrics: Mapping[str, tf.Tensor],
                   last: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """One step of episode bookkeeping for B environments.

  Both sums have the columns `episode_keys(metrics)`: the `episodes` column
  adds `last`, so each finished episode counts 1.

  Args:
    running: float32 [B, M], sums of the current episodes.
    totals: float32 [B, M], sums over each environment's finished episodes.
    reward: float32 [B] reward of the step.
    metrics: float32 [B] task metrics of the step (`StepOutput.metrics`).
    last: bool [B], True where the step ended an episode.
  Returns:
    (running, totals) after the step; running sums restart where `last`.
  """
  ended = tf.cast(last, tf.float32)
  values = tf.stack([ended, tf.cast(reward, tf.float32)] +
                    [tf.cast(metrics[k], tf.float32) for k in sorted(metrics)],
                    axis=-1)  # [B, M]
  running = running + values
  last = tf.convert_to_tensor(last)[:, None]
  totals = totals + tf.where(last, running, 0.0)
  return tf.where(last, 0.0, running), totals


def sum_over_batch(keys, totals) -> Dict[str, tf.Tensor]:
  """Episode sums [B, M] -> {key: scalar sum over the B environments}."""
  return dict(zip(keys, tf.unstack(tf.reduce_sum(totals, axis=0))))


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
