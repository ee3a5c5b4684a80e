"""Exp 7 (Section 3.2.3, Fig 7): the analysis of agents trained on one-shot
navigation in the I-maze.

`evaluate` plays frozen test episodes with one policy and summarises its
goal visits and their latencies (`meta_rl.analysis.navigation_summary`);
`evaluate_run` does so for each agent compared; `plot` draws Fig 7,
`plot_episode` one episode as a strip of first-person frames with the map
inset and `table` the printed table.
"""

import os

import environments
from environments import maze as maze_lib
from meta_rl import files
from meta_rl.run import progress

ACTION_MARKS = ('^', 'v', '<', '>', '[', ']')  # forward, back, turns, strafes


def evaluate(core, policy, num_episodes, seed, window):
  """(summary of goal visits and latencies, (episodes, trips)); `window`:
  the decisions of the censoring-matched latencies."""
  from meta_rl import analysis, evaluation  # pylint: disable=g-import-not-at-top
  episodes = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
  trips = analysis.navigation_trips(episodes)
  return analysis.navigation_summary(
      trips, episodes['rewards'], episodes['info_goal'][:, 0], window), (
      episodes, trips)


def evaluate_run(core, policies, *, run_dir, ff_run_dir, checkpoint,
                 num_episodes, seed, window, log):
  """The analysis of each of `policies` (name -> policy: 'agent', RUN_DIR's;
  'ff', FF_RUN_DIR's; other seeds; 'random') on the same `num_episodes`
  test episodes; `log(line)` reports progress. Returns
  `(report, played)`: the report holds the settings and 'results' (name ->
  summary), `played` maps each name to its (episodes, trips)."""
  report = {'run_dir': run_dir, 'ff_run_dir': ff_run_dir,
            'checkpoint': checkpoint, 'num_episodes': num_episodes,
            'seed': seed, 'window': window,
            'episode_decisions': core.episode_length, 'results': {}}
  played = {}
  for name, policy in policies.items():
    log(f'[exp7] {name}: {num_episodes} test episodes')
    report['results'][name], played[name] = evaluate(
        core, policy, num_episodes, seed, window)
  return report, played


def table(report):
  """The printed table: each policy's reward, visits and latencies."""
  lines = [f'{"policy":<24} {"reward":>8} {"visits":>7} {"found":>6} '
           f'{"first":>7} {"later":>7} {"ratio":>6} {"matched":>8}']
  for name, s in report['results'].items():
    lines.append(f'{name:<24} {s["episode_return"]:>8.2f} '
                 f'{s["visits_per_episode"]:>7.2f} {s["p_found"]:>6.2f} '
                 f'{s["latency_first"]:>7.1f} {s["latency_later"]:>7.1f} '
                 f'{s["latency_ratio"]:>6.2f} {s["matched_ratio"]:>8.2f}')
  window = report['window']
  lines.append('latencies in agent decisions; matched: trips with >= '
               f'{window} decisions left, capped at {window}')
  return '\n'.join(lines)


def learning_curves(run_dirs, ff_run_dirs):
  """Name -> (steps, values) of the reward per episode while training of
  each run of the stacked-LSTM (`run_dirs`) and feed-forward agents (empty
  lists for a run without TensorBoard events)."""
  return {os.path.basename(os.path.normpath(d)) + f' ({k})':
          progress.tensorboard_curve(d, 'episode_return')
          for k, ds in (('stacked LSTM', run_dirs), ('FF', ff_run_dirs))
          for d in ds if d}


def title(report):
  """The figure's title: the runs compared and the test episodes."""
  return (f'I-maze, {report["run_dir"]}'
          + (f' (checkpoint {report["checkpoint"]})' if report['checkpoint']
             else '')
          + (f' vs {report["ff_run_dir"]}' if report['ff_run_dir'] else '')
          + f'; {report["num_episodes"]} test episodes of '
          f'{report["episode_decisions"]} decisions')


def plot(path, core, report, played, curves):
  """Fig 7 (titled by `title`): a) the learning curves `curves`
  (`learning_curves`), b) trajectories of one of the agent's
  episodes before and after the first discovery, c) latency by visit number,
  e) the value estimate around the first discovery (mean over episodes) and
  along panel b's episode. `played`: policy -> (episodes, trips)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import matplotlib.ticker  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl import analysis  # pylint: disable=g-import-not-at-top
  task = environments.unwrap(core)
  fig, axes = plt.subplots(1, 5, figsize=(26, 5.2), gridspec_kw={
      'width_ratios': [1.2, 0.7, 1.3, 1.3, 1.4]})
  # a) learning curves: reward per episode over training.
  ax = axes[0]
  for name, (steps, values) in curves.items():
    if steps:
      ax.plot(np.array(steps) / 1e6, values, lw=1.2, label=name)
  ax.set(xlabel='agent decisions (millions)', ylabel='reward per episode '
         '(training, goal = 10)', title='a) learning')
  ax.legend(frameon=False, fontsize=8)
  # b) trajectories of one episode of RUN_DIR's agent, before and after
  # the first discovery.
  ax = axes[1]
  episodes, trips = played['agent']
  i = example_episode(trips)
  valid = episodes['valid'][i]
  xy = episodes['info_position'][i][valid]
  first = analysis.first_discovery(trips)[i]
  visits = np.nonzero(episodes['metric_goal_visits'][i][valid] > 0)[0]
  segments = np.split(np.arange(len(xy)), visits + 1)
  lines = [xy[s] for s in segments if len(s)]
  colours = ['sandybrown' if s[0] <= first or first < 0 else 'tab:blue'
             for s in segments if len(s)]
  goal = int(episodes['info_goal'][i, 0])
  r, c = task.maze.goals[goal]
  maze_lib.plot_maze(ax, task.maze, lines, goal=goal, colours=colours,
                     visits=[(c + 0.5, r + 0.5)] * len(visits))
  ax.set_title(f'b) episode {i}: exploring (orange), then\nreturning '
               f'(blue); {len(visits)} goal visits', fontsize=9)
  # c) latency by visit number, each agent and seed.
  ax = axes[2]
  styles = {'agent': dict(color='tab:blue'), 'ff': dict(color='tab:orange'),
            'random': dict(color='gray', ls=':')}
  for name, s in report['results'].items():
    kind = name.split(':')[0]
    by = s['by_visit']
    n = np.array(by['n'])
    mean = np.where(n >= 20, by['mean'], np.nan)
    se = np.where(n >= 20, by['se'], np.nan)
    x = np.arange(1, len(mean) + 1)
    label = (f'{name} (ratio {s["latency_ratio"]:.2f}, matched '
             f'{s["matched_ratio"]:.2f})')
    ax.errorbar(x, mean, yerr=se, marker='o', ms=3, capsize=2, lw=1.3,
                alpha=1.0 if ':' not in name else 0.6, label=label,
                **styles.get(kind, {}))
  ax.set(xlabel='goal visit in the episode', ylabel='decisions to reach the '
         'goal (mean, SE)', title='c) latency of each visit (visits reached '
         'by >= 20 episodes)')
  ax.set_ylim(bottom=0)
  ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  ax.legend(frameon=False, fontsize=7)
  # e) value estimate around the first discovery (mean over episodes).
  ax = axes[3]
  span = (-60, 120)
  for name in played:
    if name == 'random':
      continue
    eps, tr = played[name]
    mean = aligned(eps['values'], eps['valid'],
                    analysis.first_discovery(tr), span)
    ax.plot(np.arange(*span), mean, lw=1.5, label=name,
            **styles.get(name.split(':')[0], {}))
  ax.axvline(0, color='red', lw=1, label='first goal visit')
  ax.set(xlabel='decisions from the first goal visit',
         ylabel='value estimate (mean over episodes)',
         title='e) value around the first discovery (mean)')
  ax.legend(frameon=False, fontsize=8)
  # e') the value along panel b's episode, goal hits in red.
  ax = axes[4]
  ax.plot(np.arange(len(xy)), episodes['values'][i][valid], color='tab:blue',
          lw=1.2, label='agent')
  for k, t in enumerate(visits):
    ax.axvline(t, color='red', lw=1, alpha=0.8,
               label='goal visit' if k == 0 else None)
  ax.set(xlabel='decision', ylabel='value estimate',
         title=f"e) value along episode {i} (panel b)")
  ax.legend(frameon=False, fontsize=8)
  for a in (axes[0], axes[2], axes[3], axes[4]):
    a.grid(alpha=0.3)
  fig.suptitle(title(report))
  fig.tight_layout()
  files.save_figure(fig, path, dpi=110)
  plt.close(fig)


def example_episode(trips):
  """An episode that shows the behaviour: found early, then several visits."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  visits = (~np.isnan(trips['latency'])).sum(1)
  return int(np.argmax(visits - 0.01 * np.nan_to_num(trips['latency'][:, 0],
                                                     nan=1e3)))


def aligned(values, valid, anchor, span):
  """Mean of values [N, T] at decisions anchor + (span[0] .. span[1]) over
  episodes with an anchor (>= 0), NaN where fewer than 20 contribute."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  offsets = np.arange(*span)
  total = np.zeros(len(offsets))
  count = np.zeros(len(offsets))
  for i in np.nonzero(anchor >= 0)[0]:
    t = anchor[i] + offsets
    ok = (t >= 0) & (t < values.shape[1])
    ok[ok] &= valid[i, t[ok]]
    total[ok] += values[i, t[ok]]
    count[ok] += 1
  return np.where(count >= 20, total / np.maximum(count, 1), np.nan)


def plot_episode(path, core, episodes, trips, index, run_dir, num_frames=32,
                 columns=8, every=3):
  """Every `every`-th decision of one episode: the first-person frame
  (re-rendered from the recorded ground truth) with the map inset; the
  title names RUN_DIR, the run of the agent that played it."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from meta_rl import analysis  # pylint: disable=g-import-not-at-top
  task = environments.unwrap(core)
  first = int(analysis.first_discovery(trips)[index])
  length = int(episodes['valid'][index].sum())
  # Frames leading up to the first discovery and the first return after it.
  begin = max(0, first - (num_frames // 2) * every) if first >= 0 else 0
  ts = np.arange(begin, length, every)[:num_frames]
  n = len(ts)
  state, _ = task.reset(environments.core.make_key(0), n)
  state = state._replace(
      position=tf.constant(episodes['info_position'][index, ts], tf.float32),
      heading=tf.constant(episodes['info_heading'][index, ts], tf.float32),
      goal=tf.constant(episodes['info_goal'][index, ts], tf.int32))
  frames = task.observe(state)['pixels'].numpy()  # the view before step t
  rows = -(-n // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.3 * rows),
                           squeeze=False)
  visits = episodes['metric_goal_visits'][index]
  rewards = episodes['rewards'][index]
  for k, ax in enumerate(axes.ravel()):
    ax.axis('off')
    if k >= n:
      continue
    t = ts[k]
    ax.imshow(frames[k], interpolation='nearest')
    hit = bool(visits[t:t + every].sum())
    ax.set_title(f't={t} {ACTION_MARKS[int(episodes["actions"][index, t])]}'
                 + (' GOAL' if hit else ''), fontsize=8,
                 color='red' if hit else 'black')
    inset = ax.inset_axes([0.66, 0.0, 0.34, 0.5])
    maze_lib.plot_maze(inset, task.maze, goal=int(episodes['info_goal'][index,
                                                                        t]),
                       show_cells=False)
    x, y = episodes['info_position'][index, t]
    h = episodes['info_heading'][index, t]
    inset.plot([x], [y], 'o', color='k', ms=2.5)
    inset.plot([x, x + 1.2 * np.cos(h)], [y, y + 1.2 * np.sin(h)], '-', color='k',
               lw=1)
  fig.suptitle(f'one test episode of {run_dir}: one decision in '
               f'{every}, '
               f'first goal visit at decision {first}; reward '
               f'{rewards.sum():.0f}. Title: decision, its action '
               '(^ forward, v back, < > turn, [ ] strafe). Inset: the map, '
               'the agent and its heading, the goal (star)', fontsize=9)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=100)
  plt.close(fig)
