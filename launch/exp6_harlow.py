"""Exp 6 (Section 3.2.2, Fig 6): one-shot learning in Harlow's task.

  python launch/exp6_harlow.py --run_dir=runs/harlow [--seed_runs=runs/h1,runs/h2]
  python launch/exp6_harlow.py --run_dir=runs/harlow --image_dir=DIR  # own photos

Plays --num_episodes frozen test episodes on held-out images (the procedural
test set, or IMAGE_DIR/test/) with the run's agent (its SavedModel, or
--checkpoint=N: the training checkpoint of update N, also of a run stopped
before it exported) and, on the same
episodes, the scripted ideal player and a random policy. Reports, for each:
P(choose the rewarded image) by trial number 1-10 (Fig 6f), the same after a
rewarded and after an unrewarded trial 1, trials 2-10 overall, fixation
completion, decisions and primitive frames per trial. Fig 6f's curves over
training come from the run's kept checkpoints (--keep_every while training),
--checkpoint_episodes each; Fig 6d's from its TensorBoard events; Fig 6e
ranks the final performance of the runs given by --seed_runs (other seeds),
--seed_episodes each.

Writes RUN_DIR/eval/exp6<tag>.json, exp6<tag>.png (Fig 6d-f) and
exp6<tag>_episode.png (the frames of one test episode, with actions and
rewards); <tag> is empty, or _<folder name> with --image_dir.
"""

import os
import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import files
from meta_rl import task_specs
from environments import harlow

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    'launch/harlow.py.')
flags.DEFINE_integer('checkpoint', None, 'Evaluate the training checkpoint of '
                     'this update instead of the exported SavedModel.')
flags.DEFINE_string('image_dir', None, 'Test on IMAGE_DIR/test/ instead of '
                    'the procedural held-out images.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('checkpoint_episodes', 200, 'Test episodes of each kept '
                     'checkpoint for the curves over training (0: none).')
flags.DEFINE_list('seed_runs', [], 'Run dirs of other seeds (same task) for '
                  'the learning curves and the ranking of final performance.')
flags.DEFINE_integer('seed_episodes', 300, 'Test episodes per --seed_runs run.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines', list(task_specs.SPECS[harlow.HarlowTask].baselines),
                  'Baselines on the same test episodes.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS
ARROWS = {harlow.LEFT: '<', harlow.RIGHT: '>', harlow.NOOP: '.'}
MIN_TRIALS = 20  # trial numbers reached by fewer episodes are not plotted


def _masked(split, key='p'):
  """A by-trial curve with NaN where fewer than MIN_TRIALS episodes got
  that far (an agent that completes few trials gives noisy tails)."""
  return [v if n >= MIN_TRIALS else float('nan')
          for v, n in zip(split[key], split['n'])]


def _evaluate(core, policy, num_episodes, seed):
  """(summary of the task's metrics and Fig 6 numbers, episodes)."""
  from meta_rl import analysis, evaluation  # pylint: disable=g-import-not-at-top
  episodes = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
  trials = analysis.harlow_trials(episodes)
  summary = analysis.harlow_summary(trials)
  derived = evaluation.summarise(episodes, core.derived_metrics)
  summary['fixation_rate'] = derived.get('fixation_rate', float('nan'))
  summary['episode_return'] = derived['episode_return']
  summary['by_trial'] = analysis.choice_by_trial(trials)
  return summary, episodes


def _policy_at(core, update):
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top
  try:
    return evaluation.checkpoint_policy(
        FLAGS.run_dir, checkpoints.kept_checkpoints(FLAGS.run_dir)[update], core)
  except (OSError, ValueError) as e:
    common.fail(str(e).splitlines()[0])


def _plot(path, report, curves, title):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 4, figsize=(22, 4.6))
  # d) learning curves.
  ax = axes[0]
  for name, (steps, values) in curves.items():
    if steps:
      ax.plot(np.array(steps) / 1e6, values, lw=1.2, label=name)
  ax.axhline(1.0, color='k', ls='--', lw=1)
  ax.axhline(0.5, color='gray', ls=':', lw=1)
  ax.set(xlabel='agent decisions (millions)', ylim=(0.3, 1.02),
         ylabel='P(correct), trials 2-10 (training)',
         title='d) learning (training images)')
  if any(steps for steps, _ in curves.values()):
    ax.legend(frameon=False, fontsize=8)
  else:  # e.g. a shipped policy: a SavedModel without its training logs
    ax.text(0.5, 0.6, 'no training curve in this run dir\n(no tb/)',
            transform=ax.transAxes, ha='center', color='gray')
  # e) final performance of each run, decreasing.
  ax = axes[1]
  finals = sorted(((v['p_correct_later'], k) for k, v in
                   report['runs'].items()), reverse=True)
  ax.bar(range(len(finals)), [f[0] for f in finals], color='tab:green')
  ax.set_xticks(range(len(finals)), [f[1] for f in finals], rotation=30,
                ha='right', fontsize=8)
  ax.axhline(0.95, color='k', ls='--', lw=1, label='target 0.95')
  ax.axhline(0.5, color='gray', ls=':', lw=1, label='chance')
  ax.set(ylim=(0, 1.02), ylabel='P(correct), trials 2-10 (held out)',
         title='e) final performance per run')
  ax.legend(frameon=False, fontsize=8)
  # f) by trial number over training.
  ax = axes[2]
  checkpoints = report.get('checkpoints', {})
  cmap = plt.get_cmap('viridis')
  for i, (update, s) in enumerate(sorted(checkpoints.items(),
                                         key=lambda kv: int(kv[0]))):
    p = _masked(s['by_trial']['all'])
    ax.plot(range(1, len(p) + 1), p, color=cmap(i / max(len(checkpoints), 1)),
            lw=1.2, marker='.', label=f'update {update}')
  for name, style in (('agent', dict(color='tab:red', lw=2.2)),
                      ('ideal', dict(color='k', ls='--')),
                      ('random', dict(color='gray', ls=':'))):
    if name in report['results']:
      p = _masked(report['results'][name]['by_trial']['all'])
      ax.plot(range(1, len(p) + 1), p, marker='o', ms=3, label=name, **style)
  ax.set(xlabel='trial', ylabel='P(choose the rewarded image)', ylim=(0, 1.02),
         title=f'f) by trial over training (held out; n >= {MIN_TRIALS})')
  ax.legend(frameon=False, fontsize=7, ncol=2)
  # The win/loss split of the evaluated agent.
  ax = axes[3]
  by = report['results']['agent']['by_trial']
  for split, color in (('after_win', 'tab:blue'), ('after_loss', 'tab:orange')):
    p = np.array(_masked(by[split])[1:])
    se = np.array(_masked(by[split], 'se')[1:])
    x = np.arange(2, len(p) + 2)  # trial 1 is the split itself
    ax.errorbar(x, p, yerr=se, color=color, marker='o', ms=3, capsize=2,
                label=f'trial 1 {split.replace("after_", "")}'
                f' (n={by[split]["n"][0]})')
  ax.set(xlabel='trial', ylabel='P(choose the rewarded image)', ylim=(0, 1.02),
         title='agent: after a rewarded / unrewarded trial 1')
  ax.legend(frameon=False, fontsize=8)
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.suptitle(title)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=110)
  plt.close(fig)


def _plot_episode(path, core, episodes, index=0, num_frames=40, columns=10):
  """The frames of one episode, re-rendered from its recorded ground truth
  (the observation is a function of the task state), with actions/rewards."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  task = environments.unwrap(core)
  t = min(num_frames, int(episodes['valid'][index].sum()))
  info = {k[5:]: v[index, :t] for k, v in episodes.items()
          if k.startswith('info_')}
  zeros = tf.zeros([t], tf.int32)
  state = harlow.HarlowState(
      gaze=tf.constant(info['gaze'], tf.float32), turn=tf.zeros([t]),
      phase=tf.constant(info['phase'], tf.int32), counter=zeros,
      trial=tf.constant(info['trial'], tf.int32), steps=zeros,
      images=tf.constant(info['images'], tf.int32),
      rewarded_side=tf.constant(info['rewarded_side'], tf.int32),
      first_correct=zeros)
  frames = task.observe(state)['pixels'].numpy()
  rows = -(-t // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.85 * rows),
                           squeeze=False)
  phases = {harlow.FIXATION: 'fix', harlow.CHOICE: 'choice',
            harlow.INTERVAL: 'ITI'}
  for i, ax in enumerate(axes.ravel()):
    ax.axis('off')
    if i >= t:
      continue
    ax.imshow(frames[i], interpolation='nearest')
    r = float(episodes['rewards'][index, i])
    colour = 'green' if r >= 0.99 else 'red' if r <= -0.99 else (
        'darkorange' if r > 0 else 'black')
    ax.set_title(f'{i} {phases[int(info["phase"][i])]} '
                 f'{ARROWS[int(episodes["actions"][index, i])]}'
                 + (f' r={r:+.1f}' if r else ''), fontsize=7, color=colour)
    w = frames.shape[2]
    ax.axvline((w - 1) / 2, color='white', lw=0.5, alpha=0.6)  # gaze
  fig.suptitle('one held-out episode: view at each decision; title: decision, '
               'phase, action (< left, > right, . no-op), reward of the '
               'action; white line: gaze', fontsize=9)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=100)
  plt.close(fig)


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  tag = ''
  overrides = {}
  if FLAGS.image_dir:
    tag = '_' + os.path.basename(os.path.normpath(FLAGS.image_dir))
    overrides['image_dir'] = FLAGS.image_dir
  if FLAGS.checkpoint is not None:
    tag += f'_ckpt{FLAGS.checkpoint}'
  names = [f'exp6{tag}.json', f'exp6{tag}.png', f'exp6{tag}_episode.png']
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'harlow', FLAGS.baselines, names, FLAGS.overwrite,
      trained_on=['harlow'], task_overrides=overrides,
      checkpoint=FLAGS.checkpoint)
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top

  def log(message):
    print(message, file=sys.stderr, flush=True)

  report = {'run_dir': FLAGS.run_dir, 'checkpoint': FLAGS.checkpoint,
            'image_dir': FLAGS.image_dir,
            'test_images': environments.unwrap(core).num_images,
            'num_episodes': FLAGS.num_episodes, 'seed': FLAGS.seed,
            'results': {}, 'checkpoints': {}, 'runs': {}}
  agent_episodes = None
  for name, policy in policies.items():
    log(f'[exp6] {name}: {FLAGS.num_episodes} test episodes')
    summary, episodes = _evaluate(core, policy, FLAGS.num_episodes, FLAGS.seed)
    report['results'][name] = summary
    if name == 'agent':
      agent_episodes = episodes
  report['runs'][os.path.basename(os.path.normpath(FLAGS.run_dir))] = (
      report['results']['agent'])
  if FLAGS.checkpoint_episodes > 0:
    for update in checkpoints.kept_checkpoints(FLAGS.run_dir):
      log(f'[exp6] checkpoint of update {update}: '
          f'{FLAGS.checkpoint_episodes} episodes')
      summary, _ = _evaluate(core, _policy_at(core, update),
                             FLAGS.checkpoint_episodes, FLAGS.seed)
      report['checkpoints'][str(update)] = summary
  curves = {os.path.basename(os.path.normpath(FLAGS.run_dir)):
            common.tensorboard_curve(FLAGS.run_dir, 'p_correct_later')}
  for run_dir in FLAGS.seed_runs:
    policy, name = common.run_policy(run_dir, core, 'harlow', 'seed_runs')
    log(f'[exp6] run {name}: {FLAGS.seed_episodes} episodes')
    report['runs'][name], _ = _evaluate(core, policy, FLAGS.seed_episodes,
                                        FLAGS.seed)
    curves[name] = common.tensorboard_curve(run_dir, 'p_correct_later')

  files.write_json(paths[names[0]], report)
  title = (f'Harlow, {FLAGS.run_dir}'
           + (f' (checkpoint {FLAGS.checkpoint})' if FLAGS.checkpoint else '')
           + f', held-out images: {FLAGS.image_dir or "procedural"}')
  _plot(paths[names[1]], report, curves, title)
  _plot_episode(paths[names[2]], core, agent_episodes)

  print(f'{"policy":<10} {"trial 1":>8} {"trials 2-10":>12} {"after win":>10} '
        f'{"after loss":>10} {"fixation":>9} {"decisions/trial":>16} '
        f'{"frames/trial":>13}')
  for name, s in report['results'].items():
    print(f'{name:<10} {s["p_correct_trial_1"]:>8.3f} {s["p_correct_later"]:>12.3f} '
          f'{s["p_correct_later_after_win"]:>10.3f} '
          f'{s["p_correct_later_after_loss"]:>10.3f} {s["fixation_rate"]:>9.3f} '
          f'{s["decisions_per_trial"]:>16.1f} {s["frames_per_trial"]:>13.1f}')
  for name, s in list(report['runs'].items())[1:]:  # the other seeds
      print(f'run {name}: trials 2-10 {s["p_correct_later"]:.3f}')
  print('wrote ' + ', '.join(paths[n] for n in names))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
