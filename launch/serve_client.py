r"""Play episodes of a task against an agent served by TF Serving.

  tensorflow_model_server --port=8500 --rest_api_port=8501 \
      --model_name=meta_rl --model_base_path=$PWD/runs/exp1/saved_model
  python launch/serve_client.py --rest=http://localhost:8501 \
      --saved_model=runs/exp1/saved_model --num_episodes=20
  python launch/serve_client.py --grpc=localhost:8500 --task=independent \
      --greedy

The client plays the task's dm_env face (`environments.CoreEnvironment`, batch
size 1) here and asks the model server for every decision: `initial_state`
at the start of an episode, then `step` each time step with the previous
action and reward, the observation and the state the last reply returned (the
SavedModel contract of meta_rl/export.py). Over REST it POSTs
`/v1/models/<--model_name>:predict` with the columnar `{"signature_name",
"inputs"}` body (the row form cannot carry `initial_state`'s scalar
`batch_size`); over gRPC it calls `PredictionService.Predict` (needs the
optional `tensorflow-serving-api`). `--greedy` takes `greedy_action` instead
of the served `action` sample. Prints each episode's reward and task metrics
(e.g. expected regret), then their means and standard errors.

--saved_model is a local copy of the served model (or its base path): its
metadata gives the task as trained (the default of --task, its arguments
and action repeat) and its state names. A `feedforward` agent has no state and
its `initial_state` has no outputs, which a model server cannot run: give
--saved_model for such an agent, so that the client knows not to ask.
"""

import os

# gRPC's C core would log failed connections on stderr; the error line says
# it (set before grpc is first imported).
os.environ.setdefault('GRPC_VERBOSITY', 'NONE')

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import evaluation
from meta_rl import export as export_lib
# The client itself; tests/test_serving.py also reaches it through here.
from meta_rl.serving import (  # pylint: disable=unused-import
    ServedPolicy, ServingError, grpc_predictor, parse_grpc_response,
    parse_rest_response, play, rest_predictor, rest_request_body)
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
SERVING_API = 'pip install --no-deps tensorflow-serving-api==2.21.0'


def define_flags(fv):
  """Defines this launcher's flags on `fv`."""
  flags.DEFINE_string('rest', None, 'REST address of the model server, '
                      'e.g. http://localhost:8501.', flag_values=fv)
  flags.DEFINE_string('grpc', None, 'gRPC address of the model server, '
                      'e.g. localhost:8500.', flag_values=fv)
  flags.DEFINE_string('model_name', 'meta_rl', "The server's --model_name.",
                      flag_values=fv)
  flags.DEFINE_string('saved_model', None, 'Local copy of the served '
                      'SavedModel (or its base path): task, task arguments '
                      'and state names from its metadata.', flag_values=fv)
  flags.DEFINE_enum('task', None, list(environments.TASKS),
                    'Task to play (default: the task --saved_model was '
                    'trained on, in its test variant).', flag_values=fv)
  flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: as '
                       'trained, or the task default).', flag_values=fv)
  flags.DEFINE_integer('num_episodes', 10, 'Episodes to play.',
                       flag_values=fv)
  flags.DEFINE_integer('seed', 12345, 'Seed of the episodes.', flag_values=fv)
  flags.DEFINE_boolean('greedy', False, 'Take greedy_action (the argmax) '
                       'instead of the action the server samples.',
                       flag_values=fv)
  flags.DEFINE_float('timeout', 10.0, 'Seconds to wait for each reply.',
                     flag_values=fv)


def main(argv):
  common.no_arguments(argv)
  if bool(FLAGS.rest) == bool(FLAGS.grpc):
    common.fail('give the model server as one of --rest=http://HOST:8501 '
                'or --grpc=HOST:8500')
  if FLAGS.rest and not FLAGS.rest.startswith(('http://', 'https://')):
    common.fail(f'--rest must be http://HOST:PORT, got {FLAGS.rest!r}')
  if FLAGS.num_episodes < 1:
    common.fail('--num_episodes must be positive')
  meta = {}
  if FLAGS.saved_model:
    try:
      meta = export_lib.read_metadata(FLAGS.saved_model)
    except (OSError, ValueError) as e:
      common.fail(f'--saved_model: {str(e).splitlines()[0]}')
  task = FLAGS.task or meta.get('task')
  if task is None:
    common.fail('--task is required (or --saved_model with meta_rl metadata)')
  overrides = {} if FLAGS.num_trials is None else {'num_trials':
                                                   FLAGS.num_trials}
  try:
    core, _ = evaluation.test_core(task, meta, **overrides)
  except (ValueError, TypeError) as e:
    common.fail(str(e).splitlines()[0])
  if FLAGS.rest:
    predict = rest_predictor(FLAGS.rest, FLAGS.model_name, FLAGS.timeout)
  else:
    try:
      predict = grpc_predictor(FLAGS.grpc, FLAGS.model_name, FLAGS.timeout)
    except ImportError as e:
      common.fail(f'--grpc needs tensorflow-serving-api ({e}): {SERVING_API}')
  state_sizes = meta.get('state_sizes')
  policy = ServedPolicy(predict, core.observation_spec(), FLAGS.greedy,
                        None if state_sizes is None else list(state_sizes))
  print(f'playing {FLAGS.num_episodes} episodes of {task} against model '
        f'{FLAGS.model_name!r} at {FLAGS.rest or FLAGS.grpc}'
        f'{" (greedy)" if FLAGS.greedy else ""}')
  try:
    play(environments.CoreEnvironment(core, seed=FLAGS.seed), policy,
         FLAGS.num_episodes)
  except ServingError as e:
    common.fail(str(e).splitlines()[0])


if __name__ == '__main__':
  define_flags(FLAGS)
  app.run(main, flags_parser=common.parse_flags)
