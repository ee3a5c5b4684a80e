"""Exp 2 (Section 3.1.2, Fig 2f): the train/test regret matrix over the five
two-armed distributions.

`regret_matrix` tests agents trained on each distribution (and agents
trained without the reward input) frozen on every distribution next to
reference baselines; `markdown` is its table, `plot_matrix` its heat maps.
"""

import os

import environments
from meta_rl import files

DISTS = list(environments.BANDIT_TASKS)


def parse_runs(values, name):
  """`{task: run_dir}` from TASK=RUN_DIR items (the setting `name`); a bad
  item, or a run dir without a saved_model, raises ValueError."""
  out = {}
  for item in values:
    task, sep, path = item.partition('=')
    if not sep or task not in DISTS:
      raise ValueError(f'`{name}`: expected TASK=RUN_DIR with TASK in '
                       f'{", ".join(DISTS)}, got {item!r}')
    if not os.path.isdir(os.path.join(path, 'saved_model')):
      raise ValueError(f'`{name}`: no saved_model in {path}')
    out[task] = path
  return out


def regret_matrix(runs, ablations, baseline_names, num_episodes, seed,
                  report):
  """Each run's latest SavedModel (`runs`, `ablations`: train task ->
  run dir) and each baseline tested frozen on every distribution, on the
  same `num_episodes` test episodes; `report(line)` after each agent's
  cell. Returns {'num_episodes', 'seed', 'agents', 'ablations',
  'baselines'}, each group mapping (train task or baseline) -> test task ->
  [regret, its standard error]. Raises ValueError for an unknown
  baseline."""
  from meta_rl import baselines, evaluation  # pylint: disable=g-import-not-at-top

  def regret(core, policy):
    s = evaluation.summarise(evaluation.play_episodes(
        core, policy, num_episodes, seed=seed))
    return [s['episode_regret'], s['episode_regret_se']]

  result = {'num_episodes': num_episodes, 'seed': seed,
            'agents': {}, 'ablations': {}, 'baselines': {}}
  for test in DISTS:
    core = environments.make_core(test)
    for name in baseline_names:
      policy = baselines.make_baseline(name, core)
      result['baselines'].setdefault(name, {})[test] = regret(core, policy)
    for group, dirs in (('agents', runs), ('ablations', ablations)):
      for train, path in dirs.items():
        policy = evaluation.SavedModelPolicy(os.path.join(path, 'saved_model'))
        # The test task at the agent's own episode length.
        agent_core, _ = evaluation.test_core(test, policy.metadata)
        policy.check_fits_core(agent_core)
        result[group].setdefault(train, {})[test] = regret(agent_core, policy)
        report(f'{group[:-1]} trained on {train:<11} tested on {test:<11} '
               f'regret {result[group][train][test][0]:6.2f}')
  return result


def markdown(result):
  """The matrix as a Markdown table: regret ± SE, the diagonal in bold,
  the baselines in italics."""
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  header = '| trained on \\ tested on | ' + ' | '.join(DISTS) + ' |\n'
  header += '|---' * (len(DISTS) + 1) + '|\n'
  lines = []
  for group, label in (('agents', ''), ('ablations', ' (no reward input)')):
    for train in DISTS:
      if train in result[group]:
        cells = result[group][train]
        lines.append(f'| {train}{label} | ' + ' | '.join(
            f'{"**" if train == t else ""}{cells[t][0]:.2f} ± {cells[t][1]:.2f}'
            f'{"**" if train == t else ""}' for t in DISTS) + ' |')
  for name, cells in result['baselines'].items():
    lines.append(f'| *{display_name(name)}* | ' + ' | '.join(
        f'{cells[t][0]:.2f} ± {cells[t][1]:.2f}' for t in DISTS) + ' |')
  return header + '\n'.join(lines) + '\n'


def plot_matrix(path, result):
  """The heat maps of Fig 2f: the trained agents on top, coloured by their
  regret relative to the Bayes-optimal regret of each test distribution
  (by regret where bayes_optimal was not run), so that the agents' cells
  are told apart; below, on a scale of their own, the agents without the
  reward input and the reference baselines. Every cell is annotated with
  its regret; the diagonal (trained = tested) is outlined."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  trained = [t for t in DISTS if t in result['agents']]
  agents = np.array([[result['agents'][t][d][0] for d in DISTS]
                     for t in trained])
  bayes = result['baselines'].get('bayes_optimal')
  if bayes is not None:
    colours = agents / np.array([bayes[d][0] for d in DISTS])[None]
    colour_label = 'regret / Bayes-optimal regret\n(same test distribution)'
  else:
    colours, colour_label = agents, 'regret'
  ablated = [t for t in DISTS if t in result['ablations']]
  lower_rows = ([f'{t}, no reward input' for t in ablated] +
                [display_name(b) for b in result['baselines']])
  lower = np.array([[result['ablations'][t][d][0] for d in DISTS]
                    for t in ablated] +
                   [[result['baselines'][b][d][0] for d in DISTS]
                    for b in result['baselines']]).reshape(-1, len(DISTS))
  heights = [len(trained)] + ([len(lower_rows)] if len(lower_rows) else [])
  fig, axes = plt.subplots(
      len(heights), 2, figsize=(8.5, 1.6 + 0.5 * sum(heights)),
      gridspec_kw={'height_ratios': heights, 'width_ratios': [1, 0.04]},
      squeeze=False)

  def heat(ax, cax, values, shown, rows, ylabel, label, diagonal, cmap):
    im = ax.imshow(values, cmap=cmap, aspect='auto')
    low, high = np.nanmin(values), np.nanmax(values)
    for i in range(values.shape[0]):
      for j in range(values.shape[1]):
        dark = (values[i, j] - low) > 0.6 * (high - low)
        ax.text(j, i, f'{shown[i, j]:.2f}', ha='center', va='center',
                fontsize=9, color='white' if dark else 'black')
    for i, row in enumerate(diagonal):
      if row in DISTS:
        j = DISTS.index(row)
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                   edgecolor='tab:red', lw=2))
    ax.set_xticks(range(len(DISTS)), DISTS)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylabel(ylabel)
    fig.colorbar(im, cax=cax, label=label)

  heat(axes[0, 0], axes[0, 1], colours, agents, trained, 'trained on',
       colour_label, trained, 'viridis_r')
  axes[0, 0].set_title('cumulative regret at the end of the episode, '
                       f'{result["num_episodes"]} test episodes per cell '
                       '(red: tested as trained)', fontsize=10)
  if len(lower_rows):
    heat(axes[1, 0], axes[1, 1], lower, lower, lower_rows, '', 'regret',
         ablated, 'Greys')
    axes[1, 0].set_xlabel('tested on')
  else:
    axes[0, 0].set_xlabel('tested on')
  fig.tight_layout()
  files.save_figure(fig, path, dpi=120)
  plt.close(fig)

