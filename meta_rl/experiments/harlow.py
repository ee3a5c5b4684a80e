"""Exp 6 (Section 3.2.2, Fig 6): the analysis of an agent trained on Harlow's
task.

`evaluate` plays frozen test episodes with one policy and summarises them
(P(choose the rewarded image) by trial, after a win and after a loss,
fixations, decisions and frames per trial); `evaluate_run` does so for the
run's agent, the baselines and the run's kept checkpoints; `plot` draws
Fig 6d-f, `plot_episode` the frames of one test episode and `table` the
printed table.
"""

import os

import environments
from environments import harlow
from meta_rl import files

ARROWS = {harlow.LEFT: '<', harlow.RIGHT: '>', harlow.NOOP: '.'}
MIN_TRIALS = 20  # trial numbers reached by fewer episodes are not plotted


def masked(split, key='p'):
  """A by-trial curve with NaN where fewer than MIN_TRIALS episodes got
  that far (an agent that completes few trials gives noisy tails)."""
  return [v if n >= MIN_TRIALS else float('nan')
          for v, n in zip(split[key], split['n'])]


def evaluate(core, policy, num_episodes, seed):
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


def evaluate_run(run_dir, core, policies, *, checkpoint, image_dir,
                 num_episodes, seed, checkpoint_episodes, log):
  """The analysis of RUN_DIR's agent (`policies['agent']`) next to the
  baselines (the other `policies`) on `num_episodes` test episodes, and of
  each kept checkpoint of the run on `checkpoint_episodes` (0: none).
  `log(line)` reports progress. Returns `(report, agent_episodes)`: the
  report holds 'results' (policy -> `evaluate` summary), 'checkpoints'
  (update -> summary) and 'runs' (run name -> summary; the other seeds are
  added by the caller). Raises OSError or ValueError for a checkpoint that
  cannot be restored."""
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top
  out = {'run_dir': run_dir, 'checkpoint': checkpoint, 'image_dir': image_dir,
         'test_images': environments.unwrap(core).num_images,
         'num_episodes': num_episodes, 'seed': seed,
         'results': {}, 'checkpoints': {}, 'runs': {}}
  agent_episodes = None
  for name, policy in policies.items():
    log(f'[exp6] {name}: {num_episodes} test episodes')
    summary, episodes = evaluate(core, policy, num_episodes, seed)
    out['results'][name] = summary
    if name == 'agent':
      agent_episodes = episodes
  out['runs'][os.path.basename(os.path.normpath(run_dir))] = (
      out['results']['agent'])
  if checkpoint_episodes > 0:
    kept = checkpoints.kept_checkpoints(run_dir)
    for update in kept:
      log(f'[exp6] checkpoint of update {update}: '
          f'{checkpoint_episodes} episodes')
      policy = evaluation.checkpoint_policy(run_dir, kept[update], core)
      summary, _ = evaluate(core, policy, checkpoint_episodes, seed)
      out['checkpoints'][str(update)] = summary
  return out, agent_episodes


def title(report):
  """The figure's title: the run, the checkpoint and the held-out images."""
  return (f'Harlow, {report["run_dir"]}'
          + (f' (checkpoint {report["checkpoint"]})' if report['checkpoint']
             else '')
          + f', held-out images: {report["image_dir"] or "procedural"}')


def plot(path, report, curves):
  """Fig 6d-f (titled by `title`): d) the learning curves `curves` (name -> (steps, values) of
  P(correct) on trials 2-10 while training), e) the final performance of
  each run, f) P(choose the rewarded image) by trial for each checkpoint
  and policy, and the agent after a rewarded and an unrewarded trial 1."""
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
    p = masked(s['by_trial']['all'])
    ax.plot(range(1, len(p) + 1), p, color=cmap(i / max(len(checkpoints), 1)),
            lw=1.2, marker='.', label=f'update {update}')
  for name, style in (('agent', dict(color='tab:red', lw=2.2)),
                      ('ideal', dict(color='k', ls='--')),
                      ('random', dict(color='gray', ls=':'))):
    if name in report['results']:
      p = masked(report['results'][name]['by_trial']['all'])
      ax.plot(range(1, len(p) + 1), p, marker='o', ms=3, label=name, **style)
  ax.set(xlabel='trial', ylabel='P(choose the rewarded image)', ylim=(0, 1.02),
         title=f'f) by trial over training (held out; n >= {MIN_TRIALS})')
  ax.legend(frameon=False, fontsize=7, ncol=2)
  # The win/loss split of the evaluated agent.
  ax = axes[3]
  by = report['results']['agent']['by_trial']
  for split, color in (('after_win', 'tab:blue'), ('after_loss', 'tab:orange')):
    p = np.array(masked(by[split])[1:])
    se = np.array(masked(by[split], 'se')[1:])
    x = np.arange(2, len(p) + 2)  # trial 1 is the split itself
    ax.errorbar(x, p, yerr=se, color=color, marker='o', ms=3, capsize=2,
                label=f'trial 1 {split.replace("after_", "")}'
                f' (n={by[split]["n"][0]})')
  ax.set(xlabel='trial', ylabel='P(choose the rewarded image)', ylim=(0, 1.02),
         title='agent: after a rewarded / unrewarded trial 1')
  ax.legend(frameon=False, fontsize=8)
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.suptitle(title(report))
  fig.tight_layout()
  files.save_figure(fig, path, dpi=110)
  plt.close(fig)


def plot_episode(path, core, episodes, index=0, num_frames=40, columns=10):
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


def table(report):
  """The printed table: each policy's numbers, then each other seed's."""
  lines = [f'{"policy":<10} {"trial 1":>8} {"trials 2-10":>12} '
           f'{"after win":>10} {"after loss":>10} {"fixation":>9} '
           f'{"decisions/trial":>16} {"frames/trial":>13}']
  for name, s in report['results'].items():
    lines.append(
        f'{name:<10} {s["p_correct_trial_1"]:>8.3f} '
        f'{s["p_correct_later"]:>12.3f} '
        f'{s["p_correct_later_after_win"]:>10.3f} '
        f'{s["p_correct_later_after_loss"]:>10.3f} {s["fixation_rate"]:>9.3f} '
        f'{s["decisions_per_trial"]:>16.1f} {s["frames_per_trial"]:>13.1f}')
  for name, s in list(report['runs'].items())[1:]:  # the other seeds
    lines.append(f'run {name}: trials 2-10 {s["p_correct_later"]:.3f}')
  return '\n'.join(lines)
