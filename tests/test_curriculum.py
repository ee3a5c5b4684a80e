"""A curriculum (meta_rl/curriculum.py): the task's settings as a schedule
over training; parsing, the settings of each stage, the trainer's switch
(episodes restarted, a resume on either side of a switch exact) and the
launcher's flag."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import launcher
from meta_rl import curriculum
from meta_rl import experiment
from meta_rl.run import loop
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ parsing


def test_parse_stages_values_and_units():
  stages = curriculum.parse(
      '5M:momentum=0.1; 8e6:momentum=0.25,fixation_hold=4,hold_still=true;'
      '9000000:action_repeat=4,name=x')
  assert stages == (
      (5_000_000, {'momentum': 0.1}),
      (8_000_000, {'momentum': 0.25, 'fixation_hold': 4, 'hold_still': True}),
      (9_000_000, {'action_repeat': 4, 'name': 'x'}))
  assert curriculum.parse('') == () and curriculum.parse(' ; ') == ()
  assert curriculum.parse('1.5k:a=1') == ((1500, {'a': 1}),)


@pytest.mark.parametrize('text,message', [
    ('momentum=0.1', 'is not START:key=value'),
    ('5M:momentum', 'is not key=value'),
    ('5M:=1', 'is not key=value'),
    ('5M:momentum=', 'is not key=value'),
    ('x:momentum=1', 'is not a whole number'),
    ('1.5:momentum=1', 'is not a whole number'),
    ('inf:momentum=1', 'is not a whole number'),
    ('0:momentum=1', '>= 1'),
    ('5M:', 'changes nothing'),
    ('5M:a=1;5M:b=2', 'increasing order'),
    ('6M:a=1;5M:b=2', 'increasing order'),
])
def test_bad_text_is_a_value_error_naming_the_part(text, message):
  with pytest.raises(ValueError, match=message):
    curriculum.parse(text)


def test_stages_accumulate_and_keep_the_types_of_the_settings():
  task = experiment.TaskConfig(
      'harlow', {'momentum': 0.0, 'fixation_hold': 1, 'hold_still': False},
      action_repeat=1, curriculum=curriculum.parse(
          '100:momentum=0.1;200:fixation_hold=4.0,hold_still=true,'
          'momentum=0,action_repeat=4'))
  (s0, t0), (s1, t1), (s2, t2) = task.stages()
  assert (s0, s1, s2) == (0, 100, 200)
  assert t0 == experiment.TaskConfig(
      'harlow', {'momentum': 0.0, 'fixation_hold': 1, 'hold_still': False})
  assert t1.kwargs == {'momentum': 0.1, 'fixation_hold': 1,
                       'hold_still': False}
  assert t2.kwargs == {'momentum': 0.0, 'fixation_hold': 4,
                       'hold_still': True}
  assert t2.action_repeat == 4 and task.final() == t2
  assert isinstance(t2.kwargs['fixation_hold'], int)
  assert isinstance(t2.kwargs['momentum'], float)
  # Through config.json (lists) and back.
  back = experiment.TaskConfig(**json.loads(json.dumps(
      experiment.dataclasses.asdict(task))))
  assert back == task


@pytest.mark.parametrize('text,message', [
    ('100:resolution_x=4', "changes 'resolution_x', which is not a setting"),
    ('100:hold_still=1', 'true or false'),
    ('100:fixation_hold=2.5', 'must be like 1'),
    ('100:momentum=fast', 'must be like 0.0'),
])
def test_a_setting_the_task_lacks_or_a_wrong_kind_is_refused(text, message):
  task = experiment.TaskConfig(
      'harlow', {'momentum': 0.0, 'fixation_hold': 1, 'hold_still': False},
      curriculum=curriculum.parse(text))
  with pytest.raises(ValueError, match=message):
    task.stages()


# ------------------------------------------------------------------ training

BASE = dict(resolution=20, num_images=4, max_steps=40, momentum=0.0,
            fixation_hold=1, hold_still=False, turn_degrees=4.4,
            intertrial_interval=3)
B, K = 3, 5  # 15 decisions per update


def _trainer(stages_text, total_updates=4, log=None):
  task = experiment.TaskConfig('harlow', dict(BASE), 1,
                               curriculum.parse(stages_text))
  core = task.make_core()
  net = make_agent(core.observation_spec(), 3, AgentConfig(num_units=8,
                                                           seed=2))
  return experiment.make_trainer(
      task, net, A2CConfig(max_grad_norm=0.5),
      TrainConfig(batch_size=B, unroll_length=K, seed=3,
                  total_steps=total_updates * B * K), log=log)


# From decision 30 (update 2): the paper's motor rules (momentum, a hold of
# 4 no-op steps, action repeat 4 at 1.1 degrees per step).
PAPER = ('30:momentum=0.25,fixation_hold=4,hold_still=true,action_repeat=4,'
         'turn_degrees=1.1,intertrial_interval=10,max_steps=160')


def test_the_trainer_switches_at_the_stage_and_restarts_every_episode():
  lines = []
  trainer = _trainer(PAPER, log=lines.append)
  assert trainer.final_core.core.config.momentum == 0.25
  stages, frames = [], []
  for _ in range(2):
    metrics = trainer.train_step()
    stages.append(metrics['curriculum_stage'])
    frames.append(trainer.frames)
  assert trainer.core.config.momentum == 0.0 and not lines
  assert frames == [15, 30]  # one frame per decision
  metrics = trainer.train_step()  # update index 2: the stage's first
  assert metrics['curriculum_stage'] == 1 and trainer.stage == 1
  assert lines == ['curriculum stage 1 from update 2 (30 decisions)']
  core = trainer.core
  assert core.repeat == 4 and core.core.config.fixation_hold == 4
  # Every episode restarted: one unroll of 5 decisions from a fresh reset
  # (trial 0, at most 20 primitive steps taken each).
  state = trainer._carry['env_state']  # pylint: disable=protected-access
  assert np.all(state.trial.numpy() == 0)
  assert np.all(state.steps.numpy() <= 4 * K)
  assert 30 < trainer.frames <= 30 + 4 * B * K


@pytest.fixture(scope='module')
def straight():
  """Weights and carry after 4 updates of the PAPER curriculum without a
  stop (NumPy copies, shared by the resume cases)."""
  trainer = _trainer(PAPER, total_updates=4)
  for _ in range(4):
    trainer.train_step()
  return ([v.numpy() for v in trainer.agent.trainable_variables],
          [x.numpy() for x in tf.nest.flatten(trainer._carry)])  # pylint: disable=protected-access


@pytest.mark.parametrize('stop', [2, 3])
def test_a_resume_on_either_side_of_a_switch_is_exact(tmp_path, stop,
                                                      straight):
  """Checkpointed at the stage's first update (2: the episodes restored are
  the old stage's, restarted) or after it (3: carried on)."""
  weights, carry = straight
  loop.run(_trainer(PAPER, total_updates=stop), str(tmp_path),
             checkpoint_every=1, log=lambda s: None)
  lines = []
  resumed = _trainer(PAPER, total_updates=4, log=lines.append)
  loop.run(resumed, str(tmp_path), resume=True, checkpoint_every=1,
             log=lambda s: None)
  assert resumed.stage == 1
  assert lines == ['curriculum stage 1 from update 2 (30 decisions)' +
                   ('' if stop == 2 else ', resumed at update 3')]
  got = resumed.agent.trainable_variables
  assert len(got) == len(weights)
  for a, b in zip(weights, got):
    np.testing.assert_array_equal(a, b.numpy())
  got = tf.nest.flatten(resumed._carry)  # pylint: disable=protected-access
  assert len(got) == len(carry)
  for a, b in zip(carry, got):
    np.testing.assert_array_equal(a, b.numpy())


def test_a_stage_that_changes_what_the_agent_sees_is_refused():
  with pytest.raises(ValueError, match='changes what the agent sees'):
    _trainer('30:resolution=24')


def test_without_a_curriculum_nothing_changes():
  """The same seed with and without the switch machinery: no stage, the
  same update as before (no extra metric)."""
  a, b = _trainer(''), _trainer('')
  ma, mb = a.train_step(), b.train_step()
  assert 'curriculum_stage' not in ma and ma == mb


# ------------------------------------------------------------------ launcher


def test_the_launcher_trains_evaluates_and_exports_the_final_task(tmp_path):
  run_dir = tmp_path / 'run'
  proc = launcher.run(
      'harlow.py', f'--run_dir={run_dir}', '--resolution=20',
      '--num_images=4', '--max_steps=40', '--momentum=0', '--fixation_hold=1',
      '--nohold_still', '--turn_degrees=4.4', '--intertrial_interval=3',
      '--action_repeat=1', '--num_units=8', '--batch_size=3',
      '--unroll_length=5', '--total_steps=60', '--log_every_secs=0',
      '--eval_every=2', '--eval_episodes=3', '--export=best',
      f'--curriculum={PAPER}', timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '[harlow] curriculum stage 1 from update 2 (30 decisions)' in (
      proc.stderr)
  meta = json.loads((run_dir / 'saved_model' / '1' / 'assets.extra' /
                     'meta_rl.json').read_text())
  assert meta['action_repeat'] == 4
  assert meta['task_kwargs']['momentum'] == 0.25
  assert meta['task_kwargs']['fixation_hold'] == 4
  config = json.loads((run_dir / 'config.json').read_text())
  assert config['task']['action_repeat'] == 1
  # One description of the run, written the same way in both places.
  assert meta['run'] == config
  assert config['task']['curriculum'] == [[30, {
      'momentum': 0.25, 'fixation_hold': 4, 'hold_still': True,
      'action_repeat': 4, 'turn_degrees': 1.1, 'intertrial_interval': 10,
      'max_steps': 160}]]


def test_a_bad_curriculum_flag_is_one_line_before_any_work(tmp_path):
  cases = {
      'syntax': ('5M:momentum', 'is not key=value'),
      'setting': ('5M:colour=1', "changes 'colour', which is not a setting"),
  }
  for k, (text, message) in cases.items():
    proc = launcher.run('harlow.py', f'--run_dir={tmp_path / k}',
                        f'--curriculum={text}', timeout=300)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith('error: ') and message in lines[0], lines
  assert os.listdir(tmp_path) == []
