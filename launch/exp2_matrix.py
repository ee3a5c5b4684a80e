r"""Exp 2 (Section 3.1.2, Fig 2f): train/test regret matrix over the five
two-armed distributions, with each test distribution's Bayes-optimal regret.

  python launch/exp2_matrix.py --output_dir=runs/exp2 \
      --runs=independent=runs/independent,uniform=runs/uniform,easy=runs/easy,medium=runs/medium,hard=runs/hard \
      [--ablation_runs=independent=runs/noreward_independent,...]

Each run dir's latest SavedModel is tested frozen on every distribution
(--num_episodes each, the same test episodes for every agent). Writes
OUTPUT_DIR/exp2_matrix.json, exp2_matrix.md (table) and exp2_matrix.png
(heat map).
"""

import os

from absl import app
from absl import flags

import common

DISTS = list(common.environments.BANDIT_TASKS)
flags.DEFINE_list('runs', None, 'train_task=RUN_DIR pairs (trained agents).')
flags.DEFINE_list('ablation_runs', [], 'train_task=RUN_DIR pairs of agents '
                  'trained without the reward input.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes per cell.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('reference_baselines', ['bayes_optimal', 'thompson'],
                  'Baselines run on every test distribution.')
flags.DEFINE_string('output_dir', None, 'Where to write the results.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def _pairs(values, flag):
  out = {}
  for item in values:
    task, sep, path = item.partition('=')
    if not sep or task not in DISTS:
      common.fail(f'--{flag}: expected TASK=RUN_DIR with TASK in '
                  f'{", ".join(DISTS)}, got {item!r}')
    if not os.path.isdir(os.path.join(path, 'saved_model')):
      common.fail(f'--{flag}: no saved_model in {path}')
    out[task] = path
  return out


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  if not FLAGS.runs or not FLAGS.output_dir:
    common.fail('--runs and --output_dir are required')
  runs = _pairs(FLAGS.runs, 'runs')
  ablations = _pairs(FLAGS.ablation_runs, 'ablation_runs')
  paths = {e: os.path.join(FLAGS.output_dir, f'exp2_matrix.{e}')
           for e in ('json', 'md', 'png')}
  for p in paths.values():
    if os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite or choose --output_dir')
  import numpy as np  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  from meta_rl import baselines, evaluation  # pylint: disable=g-import-not-at-top

  def regret(core, policy):
    s = evaluation.summarise(evaluation.play_episodes(
        core, policy, FLAGS.num_episodes, seed=FLAGS.seed))
    return [s['final_regret_mean'], s['final_regret_se']]

  result = {'num_episodes': FLAGS.num_episodes, 'seed': FLAGS.seed,
            'agents': {}, 'ablations': {}, 'baselines': {}}
  for test in DISTS:
    core = environments.make_core(test)
    for name in FLAGS.reference_baselines:
      try:
        policy = baselines.make_baseline(name, core)
      except ValueError as e:
        common.fail(str(e))
      result['baselines'].setdefault(name, {})[test] = regret(core, policy)
    for group, dirs in (('agents', runs), ('ablations', ablations)):
      for train, path in dirs.items():
        policy = evaluation.SavedModelPolicy(os.path.join(path, 'saved_model'))
        # The test task at the agent's own episode length.
        agent_core, _ = evaluation.test_core(test, policy.metadata)
        policy.check_fits_core(agent_core)
        result[group].setdefault(train, {})[test] = regret(agent_core, policy)
        print(f'{group[:-1]} trained on {train:<11} tested on {test:<11} '
              f'regret {result[group][train][test][0]:6.2f}', flush=True)

  os.makedirs(FLAGS.output_dir, exist_ok=True)
  evaluation.write_json(paths['json'], result)
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
    lines.append(f'| *{name}* | ' + ' | '.join(
        f'{cells[t][0]:.2f} ± {cells[t][1]:.2f}' for t in DISTS) + ' |')
  table = header + '\n'.join(lines) + '\n'
  evaluation.write_text(paths['md'], table)
  print(table)

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  trained = [t for t in DISTS if t in result['agents']]
  rows = trained + [f'*{b}*' for b in result['baselines']]
  values = np.array([[result['agents'][t][d][0] for d in DISTS] for t in trained] +
                    [[result['baselines'][b][d][0] for d in DISTS]
                     for b in result['baselines']])
  fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.55 * len(rows)))
  im = ax.imshow(values, cmap='viridis_r', aspect='auto')
  for i in range(values.shape[0]):
    for j in range(values.shape[1]):
      ax.text(j, i, f'{values[i, j]:.2f}', ha='center', va='center',
              color='white' if values[i, j] > values.max() * 0.6 else 'black')
  ax.set_xticks(range(len(DISTS)), DISTS)
  ax.set_yticks(range(len(rows)), rows)
  ax.set_xlabel('tested on')
  ax.set_ylabel('trained on')
  ax.axhline(len(trained) - 0.5, color='white', lw=3)
  ax.set_title(f'cumulative regret at trial 100 ({FLAGS.num_episodes} test '
               'episodes per cell)')
  fig.colorbar(im, ax=ax, label='regret')
  fig.tight_layout()
  fig.savefig(paths['png'], dpi=120)
  print(f'wrote {paths["json"]}, {paths["md"]} and {paths["png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
