"""Evaluate an exported agent frozen on test episodes, next to baselines.

  python launch/evaluate.py --saved_model=RUN_DIR/saved_model --task=independent \
      --num_episodes=2000

Loads the SavedModel with plain `tf.saved_model.load` (latest version under a
base path), plays --num_episodes test episodes of --task (default: the task it
was trained on) with its weights frozen, runs the --baselines on the same
episodes, and writes OUTPUT_DIR/<task>.json (cumulative expected regret per
trial, mean and standard error; suboptimal pulls per trial) and
OUTPUT_DIR/<task>.png. --record writes per-step actions, rewards, task
parameters and hidden states to an .npz.
"""

import os
import sys

from absl import app
from absl import flags

import common

flags.DEFINE_string('saved_model', None, 'SavedModel dir or base path with '
                    'integer versions.')
flags.DEFINE_string('task', None, 'Test task (default: the training task).')
flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: as '
                     'trained).')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of test episodes and sampling.')
flags.DEFINE_boolean('greedy', False, 'Take the argmax action instead of '
                     'sampling from the policy.')
flags.DEFINE_list('baselines', ['auto'],
                  "Baselines to run on the same test episodes ('auto': the "
                  "task's usual set, see DEFAULT_BASELINES; empty: none).")
flags.DEFINE_float('gittins_discount', 0.98, 'Discount of the Gittins indices.')
flags.DEFINE_float('restless_volatility', 3.0 / 30.0, 'Fixed per-step variance '
                   'of the random-walk posterior of thompson_restless.')
flags.DEFINE_float('rw_beta', 10.0, 'Inverse temperature of the '
                   'Rescorla-Wagner baselines.')
flags.DEFINE_string('output_dir', None, 'Where to write JSON and PNG (default: '
                    'RUN_DIR/eval next to the saved_model base).')
flags.DEFINE_string('record', None, 'Write per-step data and hidden states to '
                    'this .npz file.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS

# The comparisons the paper makes for each task family.
DEFAULT_BASELINES = {
    'informative': ['thompson_informative', 'ucb1', 'random'],
    'restless': ['ucb', 'thompson_restless', 'rw_0.2', 'rw_0.8', 'random'],
    'restless_test': ['ucb', 'thompson_restless', 'rw_0.2', 'rw_0.8', 'random'],
    'two_step': ['model_based', 'model_free', 'random'],
}
TWO_ARMED_BASELINES = ['bayes_optimal', 'gittins', 'thompson', 'ucb1', 'random']


def _default_output_dir(path):
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  if os.path.basename(path) == 'saved_model':
    return os.path.join(os.path.dirname(path), 'eval')
  return os.path.join(path, 'eval')


def main(argv):
  if len(argv) > 1:
    common.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  common.import_tensorflow()
  if not FLAGS.saved_model:
    common.fail('--saved_model is required')
  if FLAGS.num_episodes < 2:
    common.fail('--num_episodes must be >= 2')
  import numpy as np  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  from meta_rl import baselines, evaluation  # pylint: disable=g-import-not-at-top

  try:
    policy = evaluation.SavedModelPolicy(FLAGS.saved_model, greedy=FLAGS.greedy)
  except (FileNotFoundError, OSError) as e:
    common.fail(f'cannot load SavedModel: {str(e).splitlines()[0]}')
  except evaluation.SignatureMismatchError as e:
    common.fail(str(e))
  meta = policy.metadata
  task = FLAGS.task or meta.get('task')
  if task is None:
    common.fail('--task is required: the SavedModel has no meta_rl metadata')
  # The training task's arguments apply when testing on that same task.
  task_kwargs = (dict(meta.get('task_kwargs', {})) if task == meta.get('task')
                 else {})
  if FLAGS.num_trials is not None:
    task_kwargs['num_trials'] = FLAGS.num_trials
  try:
    core = environments.make_core(task, **task_kwargs)
    policy.check_fits(core)
    names = [b for b in FLAGS.baselines if b]
    if names == ['auto']:
      names = DEFAULT_BASELINES.get(task, TWO_ARMED_BASELINES)
    bases = [baselines.make_baseline(b, core, **common.baseline_options())
             for b in names]
  except (ValueError, TypeError) as e:
    common.fail(str(e))

  trained_kwargs = meta.get('task_kwargs', {})
  for k, v in task_kwargs.items():
    if k in trained_kwargs and trained_kwargs[k] != v:
      print(f'warning: {k}={v} differs from training ({trained_kwargs[k]}); '
            'the agent is tested outside its training range', file=sys.stderr)
  out_dir = FLAGS.output_dir or _default_output_dir(FLAGS.saved_model)
  json_path = os.path.join(out_dir, f'{task}.json')
  png_path = os.path.join(out_dir, f'{task}.png')
  for p in (json_path, png_path, FLAGS.record):
    if p and os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite or choose --output_dir')

  print(f'evaluating {policy.path} on {task} ({FLAGS.num_episodes} episodes)',
        file=sys.stderr)
  episodes = evaluation.play_episodes(core, policy, FLAGS.num_episodes,
                                      seed=FLAGS.seed,
                                      record_states=bool(FLAGS.record))
  results = {'agent': evaluation.summarise(episodes)}
  for b in bases:
    results[b.name] = evaluation.summarise(
        evaluation.play_episodes(core, b, FLAGS.num_episodes, seed=FLAGS.seed))
  report = {'saved_model': policy.path, 'task': task, 'task_kwargs': task_kwargs,
            'trained_on': meta.get('task'), 'seed': FLAGS.seed,
            'greedy': FLAGS.greedy, 'results': results}
  evaluation.write_json(json_path, report)
  evaluation.plot_regret(
      png_path, results,
      f'trained on {meta.get("task", "?")}, tested on {task} '
      f'({FLAGS.num_episodes} episodes)',
      suboptimal=episodes.get('suboptimal'))
  if FLAGS.record:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.record)), exist_ok=True)
    states = episodes.pop('states', {})
    np.savez_compressed(FLAGS.record, task=np.array(task), **episodes,
                        **{f'state_{k}': v for k, v in states.items()})

  print(f'{"policy":<10} {"regret":>14} {"subopt. pulls":>14} {"reward":>8}')
  for name, s in results.items():
    regret = (f'{s["final_regret_mean"]:.2f} ± {s["final_regret_se"]:.2f}'
              if 'final_regret_mean' in s else 'n/a')
    sub = f'{s.get("suboptimal_pulls_total_mean", float("nan")):.1f}'
    print(f'{name:<10} {regret:>14} {sub:>14} {s["episode_reward_mean"]:>8.2f}')
  print(f'wrote {json_path} and {png_path}'
        + (f' and {FLAGS.record}' if FLAGS.record else ''))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
