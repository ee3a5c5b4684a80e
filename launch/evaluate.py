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
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  # Where the outputs go is checked before anything is played (an explicit
  # --output_dir before the SavedModel is even loaded).
  out_dir = FLAGS.output_dir or evaluation.default_output_dir(FLAGS.saved_model)
  if FLAGS.output_dir:
    common.check_output_dir(out_dir, 'output_dir')
  record = evaluation.record_path(FLAGS.record)
  if record:
    if os.path.isdir(record):
      common.fail(f'--record {record} is a directory')
    common.check_output_dir(os.path.dirname(os.path.abspath(record)),
                            'record')
  try:
    policy = evaluation.load_saved_model(FLAGS.saved_model, FLAGS.greedy)
  except ValueError as e:
    common.fail(str(e))
  if not FLAGS.output_dir:
    common.check_output_dir(out_dir, 'output_dir')
  trained = policy.metadata.get('task')
  factory = core = None
  task_kwargs = {}
  try:
    if FLAGS.env_factory:
      factory = evaluation.load_env_factory(FLAGS.env_factory)
      # A user's own task keeps its name; a project task's agent tested on
      # other environments is named after them.
      task = (trained if isinstance(trained, str) and
              trained not in environments.TASKS else factory.__name__)
    else:
      overrides = ({} if FLAGS.num_trials is None
                   else {'num_trials': FLAGS.num_trials})
      if FLAGS.image_dir:
        overrides['image_dir'] = FLAGS.image_dir
      task, core, task_kwargs, outside = evaluation.project_test_core(
          policy.metadata, FLAGS.task, **overrides)
      for k, v, was in outside:
        print(f'warning: {k}={v} differs from training ({was}); the agent is '
              'tested outside its training range', file=sys.stderr)
  except (ValueError, TypeError) as e:
    common.fail(str(e))
  for p in evaluation.output_paths(out_dir, task) + (record,):
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
  except evaluation.EnvFactoryError as e:
    common.fail(str(e))
  except (ValueError, TypeError) as e:  # SignatureMismatchError included
    common.fail(str(e).splitlines()[0])
  written, tb_dir = evaluation.write_outputs(
      result, policy, FLAGS.saved_model, out_dir, trained=trained,
      task_kwargs=task_kwargs, num_episodes=FLAGS.num_episodes,
      seed=FLAGS.seed, greedy=FLAGS.greedy,
      env_factory=FLAGS.env_factory if factory is not None else None,
      record=record, record_episodes=FLAGS.record_episodes,
      warn=lambda line: print(line, file=sys.stderr))
  print(result.table())
  print(f'wrote {", ".join(written)}; TensorBoard: {tb_dir}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
