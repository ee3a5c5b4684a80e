"""What an evaluation writes besides its table and JSON: the headline
numbers in TensorBoard (`write_tensorboard`) and the cumulative regret
curves of Fig 2 (`draw_regret_curves`, `plot_regret`; matplotlib is imported
only by these).
"""

import itertools
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from meta_rl import files
from meta_rl.evaluation.evaluate import Evaluation
from meta_rl.evaluation.summary import headline_scalars


def write_tensorboard(logdir: str, evaluation: Evaluation, step: int,
                      header: str = '') -> None:
  """Writes an evaluation's headline numbers to TensorBoard.

  One run per policy, `logdir/<policy>/` (so one chart overlays the agent
  and the baselines), with scalars `eval/<task>/<name>` for each of
  `headline_scalars` (`episode_return`, `episode_<metric>`, each with its
  `_se`, and derived metrics: the names training logs) at `step` (the env steps the agent was
  trained for, so that evaluations of successive SavedModels form a
  curve), and in the agent's run the table (`format_table`, after
  `header`) as the text summary `eval/<task>/table`.
  """
  task = evaluation.task
  for name, summary in evaluation.results.items():
    writer = tf.summary.create_file_writer(os.path.join(logdir, name))
    with writer.as_default(step=int(step)):
      for k, v in headline_scalars(summary).items():
        tf.summary.scalar(f'eval/{task}/{k}', float(v))
      if name == 'agent':
        text = (header + '\n\n' if header else '') + '\n'.join(
            '    ' + line for line in evaluation.table().splitlines())
        tf.summary.text(f'eval/{task}/table', text)
    writer.close()


def draw_regret_curves(ax, results: Dict[str, Dict[str, Any]],
                       xlabel: Optional[str] = None) -> None:
  """Draws on `ax` the cumulative expected regret per trial (mean +- SE) of
  each policy of `results` (`summarise` outputs by name), or the cumulative
  reward for tasks without regret. Policies carry the paper's names
  (`baselines.display_name`, the final value in the legend); the agent is
  drawn last, on top of the baselines whose curves it may cover
  (Bayes-optimal); the legend keeps the order of `results`."""
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  others = itertools.cycle(['black', 'tab:blue', 'tab:orange', 'tab:purple',
                            'tab:brown', 'dimgray', 'tab:olive', 'silver'])
  key = ('cumulative_regret' if all('cumulative_regret' in s
                                    for s in results.values())
         else 'cumulative_return')
  styles = {name: dict(color=next(others), ls='--', lw=1.5, zorder=2)
            for name in results if name != 'agent'}
  styles['agent'] = dict(color='tab:green', lw=2.4, zorder=3)
  lines = {}
  for name in sorted(results, key=lambda name: name == 'agent'):
    mean = np.asarray(results[name][key])
    se = np.asarray(results[name][f'{key}_se'])
    trials = np.arange(1, len(mean) + 1)
    style = styles[name]
    lines[name], = ax.plot(trials, mean,
                           label=f'{display_name(name)} ({mean[-1]:.2f})',
                           **style)
    ax.fill_between(trials, mean - se, mean + se, color=style['color'],
                    alpha=0.2, lw=0, zorder=style['zorder'])
  ax.set_xlabel(xlabel or ('trial' if key == 'cumulative_regret' else 'step'))
  ax.set_ylabel('cumulative expected regret' if key == 'cumulative_regret'
                else 'cumulative reward')
  ax.legend(handles=[lines[n] for n in results], frameon=False)
  ax.grid(alpha=0.3)


def plot_regret(path: str, results: Dict[str, Dict[str, Any]], title: str,
                suboptimal: Optional[np.ndarray] = None) -> None:
  """Cumulative regret curves of each policy (`draw_regret_curves`) and,
  given `suboptimal` [N, T] of the agent, its suboptimal pulls (Fig 2a-e)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ncols = 2 if suboptimal is not None else 1
  fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.2), squeeze=False)
  draw_regret_curves(axes[0, 0], results)
  axes[0, 0].set_title(title)
  if suboptimal is not None:
    ax = axes[0, 1]
    shown = suboptimal[:300]
    ax.imshow(shown, aspect='auto', cmap='Greys', interpolation='nearest',
              extent=[0.5, shown.shape[1] + 0.5, shown.shape[0], 0])
    ax.set_xlabel('trial')
    ax.set_ylabel('test episode')
    ax.set_title(f'agent: suboptimal pulls (black), {len(shown)} episodes')
  fig.tight_layout()
  files.save_figure(fig, path, dpi=120)
  plt.close(fig)
