"""Evaluate an exported agent frozen on test episodes, next to baselines.

  python launch/evaluate.py --saved_model=RUN_DIR/saved_model --task=independent \
      --num_episodes=2000
  python launch/evaluate.py --saved_model=RUN_DIR/saved_model \
      --env_factory=my_package.my_module:make_env --num_episodes=100

Loads the SavedModel with plain `tf.saved_model.load` (latest version under a
base path) and plays --num_episodes test episodes with its weights frozen:
on a task of this project (--task, default: the task it was trained on; the
whole episode loop runs in the graph) next to the task's usual --baselines on
the same episodes, or on a user's own dm_env environments (--env_factory: a
`module:callable` taking `seed=` and returning a `dm_env.Environment`,
stepped from Python). Writes OUTPUT_DIR/<task>.json (per-step cumulative
reward and every task metric, e.g. expected regret, mean and standard error)
and OUTPUT_DIR/<task>.png. --record writes per-step actions, rewards, task
ground truth, metrics and hidden states of the first --record_episodes
episodes to an .npz.
"""

import importlib
import os
import sys

from absl import app
from absl import flags

import common

flags.DEFINE_string('saved_model', None, 'SavedModel dir or base path with '
                    'integer versions.')
flags.DEFINE_enum('task', None, list(common.environments.TASKS),
                  'Test task (default: the training task).')
flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: as '
                     'trained).')
flags.DEFINE_string('image_dir', None, "Harlow's task: test on the images "
                    'of IMAGE_DIR/test/ instead of the held-out procedural '
                    'set.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of test episodes and sampling.')
flags.DEFINE_boolean('greedy', False, 'Take the argmax action instead of '
                     'sampling from the policy.')
flags.DEFINE_list('baselines', ['auto'],
                  "Baselines to run on the same test episodes ('auto': the "
                  "task's `default_baselines`; empty: none). Names: " +
                  ', '.join(common.baselines_lib.BASELINES) + '.')
common.define_baseline_flags()
flags.DEFINE_string('env_factory', None, 'module:callable returning a '
                    'dm_env.Environment given seed=...; evaluates on '
                    '--env_batch of them (seeds --seed, --seed + 1, ...) '
                    'instead of --task (no baselines).')
flags.DEFINE_integer('env_batch', 16, 'Environments --env_factory makes and '
                     'steps in lockstep.')
flags.DEFINE_string('output_dir', None, 'Where to write JSON and PNG (default: '
                    'RUN_DIR/eval next to the saved_model base).')
flags.DEFINE_string('record', None, 'Write per-step data and hidden states of '
                    'the first --record_episodes episodes to this .npz file.')
flags.DEFINE_integer('record_episodes', 1000, 'Episodes kept by --record '
                     '(the first ones; all their steps).')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
flags.adopt_module_key_flags(common)
FLAGS = flags.FLAGS


def _default_output_dir(path):
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  if os.path.basename(path) == 'saved_model':
    return os.path.join(os.path.dirname(path), 'eval')
  return os.path.join(path, 'eval')


def _user_environments(spec, count, seed):
  """`count` environments from a `module:callable` factory, with seeds
  seed, seed + 1, ... (the test seed, so not the seeds one trained with)."""
  module, sep, name = spec.partition(':')
  if not sep:
    common.fail(f'--env_factory must be module:callable, got {spec!r}')
  try:
    factory = getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    common.fail(f'cannot load --env_factory {spec}: {e}')
  return [factory(seed=seed + i) for i in range(count)]


def main(argv):
  common.no_arguments(argv)
  if not FLAGS.saved_model:
    common.fail('--saved_model is required')
  if FLAGS.num_episodes < 2:
    common.fail('--num_episodes must be >= 2')
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top

  try:
    policy = evaluation.SavedModelPolicy(FLAGS.saved_model, greedy=FLAGS.greedy)
  except (FileNotFoundError, OSError) as e:
    common.fail(f'cannot load SavedModel: {str(e).splitlines()[0]}')
  except evaluation.SignatureMismatchError as e:
    common.fail(str(e))
  meta = policy.metadata
  envs = core = None
  if FLAGS.env_factory:
    envs = _user_environments(FLAGS.env_factory, FLAGS.env_batch, FLAGS.seed)
    task = FLAGS.task or FLAGS.env_factory.rpartition(':')[2]
    try:
      policy.check_fits(envs[0].observation_spec(),
                        envs[0].action_spec().num_values, task)
    except evaluation.SignatureMismatchError as e:
      common.fail(str(e))
    bases, task_kwargs = [], {}
  else:
    task = FLAGS.task or meta.get('task')
    if task is None:
      common.fail('--task is required: the SavedModel has no meta_rl metadata')
    overrides = ({} if FLAGS.num_trials is None
                 else {'num_trials': FLAGS.num_trials})
    if FLAGS.image_dir:
      overrides['image_dir'] = FLAGS.image_dir
    try:
      core, task_kwargs = evaluation.test_core(task, meta, **overrides)
      policy.check_fits_core(core)
      names = [b for b in FLAGS.baselines if b]
      if names == ['auto']:
        names = list(core.default_baselines)
      bases = [common.baselines_lib.make_baseline(b, core,
                                                  **common.baseline_options())
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
  record = dict(record_states=bool(FLAGS.record),
                record_episodes=FLAGS.record_episodes)
  if envs is not None:
    episodes = evaluation.play_dm_env_episodes(
        envs, policy, FLAGS.num_episodes, seed=FLAGS.seed, **record)
    derived = getattr(getattr(envs[0], 'core', None), 'derived_metrics', None)
  else:
    episodes = evaluation.play_episodes(core, policy, FLAGS.num_episodes,
                                        seed=FLAGS.seed, **record)
    derived = core.derived_metrics
  results = {'agent': evaluation.summarise(episodes, derived)}
  for b in bases:
    results[b.name] = evaluation.summarise(evaluation.play_episodes(
        core, b, FLAGS.num_episodes, seed=FLAGS.seed), derived)
  report = {'saved_model': policy.path, 'task': task, 'task_kwargs': task_kwargs,
            'trained_on': meta.get('task'), 'seed': FLAGS.seed,
            'greedy': FLAGS.greedy, 'results': results}
  evaluation.write_json(json_path, report)
  evaluation.plot_regret(
      png_path, results,
      f'trained on {meta.get("task", "?")}, tested on {task} '
      f'({FLAGS.num_episodes} episodes)',
      suboptimal=episodes.get('metric_suboptimal'))
  if FLAGS.record:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.record)), exist_ok=True)
    states = episodes.pop('states', {})
    kept = {k: v[:FLAGS.record_episodes] for k, v in episodes.items()}
    np.savez_compressed(FLAGS.record, task=np.array(task), **kept,
                        **{f'state_{k}': v for k, v in states.items()})

  metrics = evaluation.metric_names(episodes)
  print(f'{"policy":<22} {"reward":>16}' +
        ''.join(f' {m:>16}' for m in metrics))
  for name, s in results.items():
    print(f'{name:<22} {s["episode_reward_mean"]:>9.2f} ± '
          f'{s["episode_reward_se"]:<4.2f}' + ''.join(
              f' {s[f"final_{m}_mean"]:>9.2f} ± {s[f"final_{m}_se"]:<4.2f}'
              for m in metrics))
  print(f'wrote {json_path} and {png_path}'
        + (f' and {FLAGS.record}' if FLAGS.record else ''))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
