"""`RunSpec`: one description of a run, the same in config.json and in the
export's metadata, and the configs' own validation."""

import json
import os

import pytest

import environments
from meta_rl import experiment
from meta_rl import export
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.run.errors import RunDirError
from meta_rl.spec import RunSpec, TaskConfig
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL = RunSpec(
    TaskConfig('harlow', {'resolution': 20, 'num_images': 4}, action_repeat=4,
               curriculum=((100, {'momentum': 0.25}),)),
    AgentConfig(core='stacked_lstm', stacked_units=(8, 4),
                reward_values=(0.0, 1.0), seed=3, popart=True),
    A2CConfig(learning_rate=1e-3, learning_rate_final=1e-4, beta_e=0.02,
              optimizer='rmsprop'),
    TrainConfig(batch_size=4, unroll_length=7, total_steps=999, seed=5,
                schedule_steps=500))


def test_json_round_trip_gives_the_same_spec():
  text = json.dumps(FULL.to_json())
  back = RunSpec.from_json(json.loads(text))
  assert back == FULL
  # JSON lists come back as the tuples of a frozen config.
  assert back.agent.stacked_units == (8, 4)
  assert back.agent.reward_values == (0.0, 1.0)
  assert back.task.curriculum == ((100, {'momentum': 0.25}),)


@pytest.mark.parametrize('edit, message', [
    (lambda d: d.pop('a2c'), 'KeyError'),
    (lambda d: d['train'].update(warp=9), 'warp'),
    (lambda d: d['a2c'].update(learning_rate=-1), 'learning_rate must be'),
    (lambda d: d['agent'].update(core='gru'), "unknown `core` 'gru'"),
    (lambda d: d['train'].update(batch_size=0), 'batch_size must be >= 1'),
])
def test_from_json_refuses_what_is_not_a_run(edit, message):
  fields = json.loads(json.dumps(FULL.to_json()))
  edit(fields)
  with pytest.raises(ValueError, match=message):
    RunSpec.from_json(fields)


@pytest.mark.parametrize('kwargs, message', [
    ({'core': 'gru'}, "unknown `core` 'gru'"),
    ({'num_units': 0}, '`num_units` must be an integer >= 1'),
    ({'num_units': 2.5}, '`num_units` must be an integer >= 1'),
    ({'stacked_units': (8,)}, '`stacked_units` must be two integers'),
    ({'stacked_units': (8, 0)}, '`stacked_units` must be two integers'),
    ({'reward_values': ('one',)}, '`reward_values` must be numbers'),
])
def test_agent_config_refuses_bad_values_from_python(kwargs, message):
  with pytest.raises(ValueError, match=message):
    AgentConfig(**kwargs)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp('spec') / 'run')
  spec = RunSpec(TaskConfig('independent', {'num_trials': 5}),
                 AgentConfig(num_units=4, seed=2), A2CConfig(beta_e=0.03),
                 TrainConfig(batch_size=2, unroll_length=5, total_steps=20))
  result = experiment.train(spec.task, spec.agent, spec.a2c, spec.train,
                            experiment.RunConfig(run_dir, log_every_secs=0),
                            log=lambda line: None)
  return spec, run_dir, result


def test_config_json_and_the_export_hold_the_same_description(tiny_run):
  spec, run_dir, result = tiny_run
  with open(os.path.join(run_dir, 'config.json')) as f:
    config = json.load(f)
  meta = export.read_metadata(result.saved_model)
  assert meta['format_version'] == 2
  assert meta['run'] == config == json.loads(json.dumps(spec.to_json()))
  for gone in ('agent_config', 'a2c_config', 'train_config'):
    assert gone not in meta
  assert RunSpec.load(run_dir) == spec
  assert RunSpec.load(os.path.join(run_dir, 'saved_model')) == spec
  assert RunSpec.load(result.saved_model) == spec
  # The served task: the one the run ends on, its episode length explicit.
  assert (meta['task'], meta['task_kwargs'], meta['action_repeat']) == (
      'independent', {'num_trials': 5}, 1)


def test_an_export_of_format_version_1_gives_its_run():
  path = os.path.join(ROOT, 'testdata', 'pretrained', 'two_step')
  meta = export.read_metadata(path)
  assert meta['format_version'] == 1 and 'run' not in meta
  spec = RunSpec.load(path)
  assert spec.task == TaskConfig('two_step', meta['task_kwargs'], 1)
  assert spec.agent == AgentConfig(**meta['agent_config'])
  assert spec.a2c == A2CConfig(**meta['a2c_config'])
  assert spec.train == TrainConfig(**meta['train_config'])


def test_load_refuses_what_describes_no_run(tmp_path):
  with pytest.raises(RunDirError, match='no config.json or SavedModel in'):
    RunSpec.load(str(tmp_path))
  (tmp_path / 'config.json').write_text('{"task": {"name": "two_step"}}')
  with pytest.raises(RunDirError, match='config.json: not a run description'):
    RunSpec.load(str(tmp_path))
  # An agent exported by hand (`export_agent`) without a run's description.
  core = environments.make_core('independent', num_trials=5)
  net = make_agent(core.observation_spec(), core.num_actions,
                   AgentConfig(num_units=4))
  path = export.export_agent(net, core.observation_spec(),
                             str(tmp_path / 'by_hand'), {'task': 'independent'})
  with pytest.raises(ValueError, match='describes no run'):
    RunSpec.load(path)
