r"""Evaluate an exported agent frozen on test episodes, next to baselines.

  python launch/evaluate.py --saved_model=RUN_DIR/saved_model --task=independent \
      --num_episodes=2000
  python launch/evaluate.py --saved_model=RUN_DIR/saved_model \
      --env_factory=my_package.my_module:make_env --num_episodes=100

Loads the SavedModel with plain `tf.saved_model.load` (latest version under a
base path) and plays --num_episodes test episodes with its weights frozen,
next to --baselines on the same episodes:

* on a task of this project (--task, default: the task it was trained on, in
  its test variant; the whole episode loop runs in the graph);
* on any dm_env task, e.g. one of your own (--env_factory: a
  `module:callable` called with `seed=` that returns a `dm_env.Environment`
  with dict observations and discrete actions, stepped from Python). This is
  the way to evaluate an agent trained on your own task: its SavedModel
  names a task this project does not know, so without --env_factory it is
  refused with one line saying so. Baselines there: a dm_env face of a
  project task gets that task's; your own task only the task-agnostic ones
  (`evaluation.TASK_AGNOSTIC_BASELINES`; 'auto' is random). Outputs are
  named after the SavedModel's own task, or after the callable when the
  agent was trained on a project task. From Python:
  `meta_rl.evaluation.evaluate_dm_env(saved_model, factory, num_episodes)`.

Writes OUTPUT_DIR/<task>.json (per-step cumulative reward and every task
metric, e.g. expected regret, mean and standard error) and
OUTPUT_DIR/<task>.png, prints the table, and writes the headline numbers to
TensorBoard (scalars `eval/<task>/...` per policy at the env steps the agent
was trained for, and the table as text): under RUN_DIR/tb/eval/<policy>/ for
a SavedModel of a run dir (RUN_DIR/saved_model) evaluated into RUN_DIR/eval,
else under OUTPUT_DIR/tb/<policy>/. --record writes per-step actions,
rewards, task ground truth, metrics and hidden states of the first
--record_episodes episodes to an .npz.
"""

import importlib
import importlib.util
import os
import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import baselines as baselines_lib

flags.DEFINE_string('saved_model', None, 'SavedModel dir or base path with '
                    'integer versions.')
flags.DEFINE_enum('task', None, list(environments.TASKS),
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
                  "task's baselines in meta_rl.task_specs; empty: none). Names: " +
                  ', '.join(baselines_lib.BASELINES) + '.')
common.define_baseline_flags()
flags.DEFINE_string('env_factory', None, 'module:callable returning a '
                    'dm_env.Environment given seed=... (e.g. your own task); '
                    'evaluates on --env_batch of them (seeds --seed, --seed '
                    '+ 1, ...) instead of a project task (--task); baselines '
                    'only where they apply.')
flags.DEFINE_integer('env_batch', 16, 'Environments --env_factory makes and '
                     'steps in lockstep.')
flags.DEFINE_string('output_dir', None, 'Where to write JSON and PNG (default: '
                    'RUN_DIR/eval next to the saved_model base).')
flags.DEFINE_string('record', None, 'Write per-step data and hidden states of '
                    'the first --record_episodes episodes to this .npz file.')
flags.DEFINE_integer('record_episodes', 1000, 'Episodes kept by --record '
                     '(the first ones; all their steps).')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
flags.register_validator('num_episodes', lambda v: v >= 2,
                         message='--num_episodes must be >= 2')
flags.register_validator('seed', lambda v: v >= 0,
                         message='--seed must be >= 0')
flags.register_validator('record_episodes', lambda v: v > 0,
                         message='--record_episodes must be positive')
FLAGS = flags.FLAGS


def _run_dir(path):
  """RUN_DIR if `path` is RUN_DIR/saved_model or one of its versions."""
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  return os.path.dirname(path) if os.path.basename(path) == 'saved_model' else None


def _default_output_dir(path):
  run_dir = _run_dir(path)
  if run_dir:
    return os.path.join(run_dir, 'eval')
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  return os.path.join(path, 'eval')


def _tensorboard_dir(saved_model, out_dir):
  """RUN_DIR/tb/eval when evaluating a run's SavedModel into RUN_DIR/eval,
  else OUTPUT_DIR/tb."""
  run_dir = _run_dir(saved_model)
  if run_dir and os.path.abspath(out_dir) == os.path.join(run_dir, 'eval'):
    return os.path.join(run_dir, 'tb', 'eval')
  return os.path.join(out_dir, 'tb')


def _record_path(path):
  """The file --record writes: numpy's `savez` appends `.npz` to a name
  without it, so the overwrite check and the printed path use that name."""
  if not path:
    return None
  return path if path.endswith('.npz') else path + '.npz'


def _check_metadata(policy):
  """One error line unless the fields of the SavedModel's metadata that
  evaluation reads have the types the exporter writes."""
  meta = policy.metadata
  where = f'{policy.path}/assets.extra/meta_rl.json'
  if not isinstance(meta, dict):
    common.fail(f'cannot load SavedModel: {where} is not a JSON object')
  types = {'task': (str,), 'task_kwargs': (dict,), 'action_repeat': (int,),
           'env_steps': (int, float)}
  for key, allowed in types.items():
    value = meta.get(key)
    if value is not None and (not isinstance(value, allowed)
                              or isinstance(value, bool)):
      common.fail(f'cannot load SavedModel: {where} has a bad {key!r} '
                  f'({value!r})')


class _FactoryError(Exception):
  pass


def _env_factory(spec):
  """The `module:callable` factory, wrapped so that its failures are one
  error line naming it."""
  module, sep, name = spec.partition(':')
  if not sep or not module or not name:
    common.fail(f'--env_factory must be module:callable, got {spec!r}')
  try:
    factory = getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    common.fail(f'cannot load --env_factory {spec}: {e}')
  if not callable(factory):
    common.fail(f'--env_factory {spec} is not callable')

  def make(seed):
    try:
      return factory(seed=seed)
    except Exception as e:  # pylint: disable=broad-except
      message = (str(e).splitlines() or [''])[0]
      raise _FactoryError(f'--env_factory {spec}(seed={seed}) failed: '
                          f'{type(e).__name__}: {message}') from e

  make.__name__ = name
  return make


def main(argv):
  common.no_arguments(argv)
  if not FLAGS.saved_model:
    common.fail('--saved_model is required')
  if FLAGS.env_batch < 1:
    common.fail('--env_batch must be >= 1')
  if FLAGS.env_factory:
    for name in ('task', 'num_trials', 'image_dir'):
      if FLAGS[name].value is not None:
        common.fail(f'--{name} is for the tasks of this project; with '
                    '--env_factory the environments are your own')
  # Where the outputs go is checked before anything is played (an explicit
  # --output_dir before the SavedModel is even loaded).
  out_dir = FLAGS.output_dir or _default_output_dir(FLAGS.saved_model)
  if FLAGS.output_dir:
    common.check_output_dir(out_dir, 'output_dir')
  record = _record_path(FLAGS.record)
  if record:
    if os.path.isdir(record):
      common.fail(f'--record {record} is a directory')
    common.check_output_dir(os.path.dirname(os.path.abspath(record)),
                            'record')
  from meta_rl import evaluation, files  # pylint: disable=g-import-not-at-top

  try:
    policy = evaluation.SavedModelPolicy(FLAGS.saved_model, greedy=FLAGS.greedy)
  except evaluation.SignatureMismatchError as e:
    common.fail(str(e))
  except Exception as e:  # pylint: disable=broad-except
    # Missing or damaged files (variables, saved_model.pb, meta_rl.json) give
    # whatever TF's readers raise: OpError, OSError, IndexError, ValueError
    # (json.JSONDecodeError, protobuf's DecodeError), ...
    message = (str(e).strip().splitlines() or [type(e).__name__])[0]
    common.fail(f'cannot load SavedModel {FLAGS.saved_model}: {message}')
  _check_metadata(policy)
  if not FLAGS.output_dir:
    common.check_output_dir(out_dir, 'output_dir')
  meta = policy.metadata
  trained = meta.get('task')
  tasks = environments.TASKS
  factory = core = None
  task_kwargs = {}
  if FLAGS.env_factory:
    factory = _env_factory(FLAGS.env_factory)
    # A user's own task keeps its name; a project task's agent tested on
    # other environments is named after them.
    task = (trained if isinstance(trained, str) and trained not in tasks
            else factory.__name__)
  else:
    task = FLAGS.task or trained
    if task is None:
      common.fail('the SavedModel has no meta_rl metadata (no task): pass '
                  '--task=TASK, or --env_factory=module:callable for a dm_env '
                  'task')
    if task not in tasks:
      common.fail(f'the SavedModel was trained on {task!r}, which is not one '
                  f"of this project's tasks ({', '.join(tasks)}): evaluate it "
                  'on your dm_env task with --env_factory=module:callable '
                  '(called with seed=) or from Python with '
                  'meta_rl.evaluation.evaluate_dm_env')
    overrides = ({} if FLAGS.num_trials is None
                 else {'num_trials': FLAGS.num_trials})
    if FLAGS.image_dir:
      overrides['image_dir'] = FLAGS.image_dir
    try:
      core, task_kwargs = evaluation.test_core(task, meta, **overrides)
    except (ValueError, TypeError) as e:
      common.fail(str(e))
    trained_kwargs = meta.get('task_kwargs', {})
    for k, v in task_kwargs.items():
      if k in trained_kwargs and trained_kwargs[k] != v:
        print(f'warning: {k}={v} differs from training ({trained_kwargs[k]}); '
              'the agent is tested outside its training range', file=sys.stderr)
  json_path = os.path.join(out_dir, f'{task}.json')
  png_path = os.path.join(out_dir, f'{task}.png')
  for p in (json_path, png_path, record):
    if p and os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite or choose --output_dir')

  started = []

  def log(line):  # progress, once every check has passed
    if not started:
      started.append(True)
      print(f'evaluating {policy.path} on {task}', file=sys.stderr)
    print(f'[evaluate] {line}', file=sys.stderr, flush=True)

  options = dict(log=log, seed=FLAGS.seed, baselines=FLAGS.baselines,
                 baseline_options=common.baseline_options(),
                 record_states=bool(FLAGS.record),
                 record_episodes=FLAGS.record_episodes, task=task)
  try:
    if factory is not None:
      try:
        result = evaluation.evaluate_dm_env(
            policy, factory, FLAGS.num_episodes, num_envs=FLAGS.env_batch,
            **options)
      except RuntimeError as e:  # an episode that never ends
        common.fail(f'--env_factory {FLAGS.env_factory}: {e}')
    else:
      result = evaluation.evaluate_core(policy, core, FLAGS.num_episodes,
                                        **options)
  except _FactoryError as e:
    common.fail(str(e))
  except (ValueError, TypeError) as e:  # SignatureMismatchError included
    common.fail(str(e).splitlines()[0])
  episodes = result.episodes
  report = {'saved_model': policy.path, 'task': task, 'task_kwargs': task_kwargs,
            'trained_on': trained, 'seed': FLAGS.seed,
            'greedy': FLAGS.greedy, 'results': result.results}
  if factory is not None:
    report['env_factory'] = FLAGS.env_factory
  files.write_json(json_path, report)
  written = [json_path]
  if importlib.util.find_spec('matplotlib') is None:
    print('[evaluate] no figure: matplotlib (the analysis extra) is not '
          'installed', file=sys.stderr)
  else:
    evaluation.plot_regret(
        png_path, result.results,
        f'trained on {trained or "?"}, tested on {task} '
        f'({FLAGS.num_episodes} episodes)',
        suboptimal=episodes.get('metric_suboptimal'))
    written.append(png_path)
  if record:
    evaluation.write_recording(record, task, episodes, FLAGS.record_episodes)
    written.append(record)
  steps = int(meta.get('env_steps', 0))
  tb_dir = _tensorboard_dir(FLAGS.saved_model, out_dir)
  evaluation.write_tensorboard(
      tb_dir, result, steps,
      header=(f'{policy.path}: trained on {trained or "?"} for {steps} env '
              f'steps; tested on {task}, {FLAGS.num_episodes} episodes, seed '
              f'{FLAGS.seed}' + (', greedy' if FLAGS.greedy else '')))

  print(result.table())
  print(f'wrote {", ".join(written)}; TensorBoard: {tb_dir}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
