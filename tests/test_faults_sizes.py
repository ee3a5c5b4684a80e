"""Issue 13, "every input is checked up front": a run too big for TensorFlow's
int32 sizes or for the machine's memory, and `--reward_values` that the task
never pays, are one `error:` line and exit 2 with nothing created
(`meta_rl.preflight`); the paper's configs pass."""

import os
import sys

from absl import flags
import pytest

import environments
from meta_rl import preflight
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import TrainConfig

from test_faults_inputs import ROOT, _error_line, _launcher, _run_all

sys.path.insert(0, os.path.join(ROOT, 'launch'))
import common  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_too_big_runs_and_unpaid_reward_values_are_one_line(tmp_path):
  bandits = [_launcher('bandits.py'), '--task=easy', '--log_every_secs=0']
  cases = {
      # [K, B] tensors of 10^10 elements: TF's gradient fails on int32 shapes.
      'int32': [*bandits, f'--run_dir={tmp_path / "int32"}',
                '--batch_size=100000', '--unroll_length=100000'],
      # Within int32 sizes (10^9 steps), far beyond any machine's memory.
      'memory': [*bandits, f'--run_dir={tmp_path / "memory"}',
                 '--batch_size=1000000', '--unroll_length=1000'],
      'rewards': [*bandits, f'--run_dir={tmp_path / "rewards"}',
                  '--reward_values=3,7'],
      'harlow_rewards': [_launcher('harlow.py'), '--resolution=42',
                         '--action_repeat=1',
                         f'--run_dir={tmp_path / "harlow"}',
                         '--reward_values=0.5,2'],
  }
  results = _run_all(cases)
  line = _error_line(results['int32'])
  assert '--batch_size * --unroll_length' in line, line
  assert '2147483647' in line and 'lower --batch_size or --unroll_length' in line
  line = _error_line(results['memory'])
  assert 'needs about' in line and 'GiB' in line, line
  assert 'of memory' in line and 'lower --batch_size or --unroll_length' in line
  line = _error_line(results['rewards'])
  assert '--reward_values 3,7: none is a reward' in line, line
  assert 'it pays 0, 1' in line, line
  line = _error_line(results['harlow_rewards'])
  assert "'harlow'" in line and 'it pays -1, 0, 0.2, 1' in line, line
  assert os.listdir(tmp_path) == []  # no run dir


def _job(launcher, *args):
  """The configs a launcher builds from its flags (a private FlagValues)."""
  module = __import__(launcher)
  fv = flags.FlagValues()
  module.define_flags(fv)
  fv([launcher, *args, '--run_dir=unused'])
  job = common.job_from_flags(module.make_task, fv)
  core = job.task.make_core()
  return core, make_agent(core.observation_spec(), core.num_actions,
                          job.agent), job.train


@pytest.mark.parametrize('launcher,config', [
    ('harlow', 'harlow_paper.cfg'), ('navigation', 'navigation_paper.cfg'),
    ('harlow', 'harlow.cfg'), ('navigation', 'navigation.cfg'),
    ('bandits', 'bandits_informative.cfg'), ('bandits', 'bandits_restless.cfg'),
])
def test_paper_configs_pass(launcher, config):
  core, agent, train = _job(launcher, '--flagfile=' + os.path.join(
      ROOT, 'launch', 'configs', config))
  # Measured peak resident memory: 1.5 GiB for harlow_paper.cfg and
  # navigation_paper.cfg (84x84, B 32, K 100); the estimate is 2.2 GiB.
  total = sum(preflight.update_memory(core, agent, train).values())
  assert preflight.BASE_BYTES < total < 3 << 30, total
  preflight.check_run(core, agent, train, limit=3 << 30)  # passes: no error
  with pytest.raises(ValueError, match='memory'):
    preflight.check_run(core, agent, train, limit=total // 2)


def test_memory_estimate_scales_and_names_the_biggest_part():
  core, agent, train = _job('harlow', '--resolution=84', '--batch_size=32',
                            '--unroll_length=100')
  small = preflight.update_memory(core, agent, train)
  big = preflight.update_memory(
      core, agent, TrainConfig(batch_size=128, unroll_length=100))
  # Measured: +1.74 GiB from B 32 to 128 (1.48 GiB to 3.18 GiB peak).
  grown = sum(big.values()) - sum(small.values())
  assert 1.74 < grown / 2**30 < 1.74 * 1.6, grown / 2**30
  assert big['frames'] == 4 * small['frames']
  with pytest.raises(ValueError, match=r'needs about 4\.7 GiB .*most for '
                     r'frames: 3\.1 GiB.*more than the 4\.0 GiB'):
    preflight.check_run(core, agent,
                        TrainConfig(batch_size=128, unroll_length=100),
                        limit=4 << 30)


def test_int32_check_counts_the_frames_of_an_unroll():
  core, agent, _ = _job('harlow', '--resolution=84')
  # B*K = 102400 steps fit; their 84x84x3 frames (2.2e9 bytes) do not.
  with pytest.raises(ValueError, match=r"21168 \(the 84x84x3 frames 'pixels'"):
    preflight.check_run(core, agent,
                        TrainConfig(batch_size=1024, unroll_length=100),
                        limit=1 << 50)


def test_possible_rewards_of_the_tasks():
  assert environments.make_core('easy').possible_rewards() == (0.0, 1.0)
  informative = environments.make_core('informative', num_arms=5)
  assert sorted(set(informative.possible_rewards())) == [
      0.1, 0.2, 0.3, 0.4, 1.0, 5.0]
  # Under action repeat a decision pays a sum of primitive rewards.
  maze = environments.make_core('imaze', resolution=42, action_repeat=2)
  assert maze.possible_rewards() == (0.0, 10.0, 20.0)
  # Apples pay only where the map has some.
  assert environments.make_core(
      'imaze', resolution=42, apples=True).possible_rewards() == (0.0, 10.0)
  with_apple = environments.MazeTask('*****\n*PAG*\n*****', resolution=16,
                                     apples=True)
  assert with_apple.possible_rewards() == (0.0, 10.0, 1.0)


def test_reward_values_need_one_that_the_task_pays():
  core = environments.make_core('informative', num_arms=5)
  spec = core.observation_spec()

  def check(values, **kwargs):
    agent = make_agent(spec, 5, AgentConfig(reward_values=values, **kwargs))
    preflight.check_reward_values(core, agent)

  # bandits_informative.cfg's values on 5 arms: 0.5 to 0.9 are never paid,
  # an input that stays zero; the others are.
  check((0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 5.0))
  check((5.0,))
  check((7.0,), use_reward_input=False)  # the reward is not an input
  # From Python the setting is named as the config field; a launcher prints
  # it as its flag (`common.as_flags`, the other tests here).
  with pytest.raises(ValueError, match='`reward_values` 0.6,7: none'):
    check((0.6, 7.0))


def test_huge_units_and_resolutions_are_refused_before_building(tmp_path):
  """Issue 26, item 3: one line from the configuration alone, before the
  agent or the image set allocates anything."""
  cases = {
      'units': [_launcher('bandits.py'), '--task=easy',
                f'--run_dir={tmp_path / "u"}', '--num_units=100000000'],
      'stacked': [_launcher('bandits.py'), '--task=easy', '--core=stacked_lstm',
                  f'--run_dir={tmp_path / "s"}', '--stacked_units=100000,64'],
      'resolution': [_launcher('harlow.py'), f'--run_dir={tmp_path / "r"}',
                     '--resolution=100000'],
  }
  results = _run_all(cases)
  line = _error_line(results['units'])
  assert 'core weights' in line and 'lower --num_units' in line, line
  assert 'lower --stacked_units' in _error_line(results['stacked'])
  line = _error_line(results['resolution'])
  assert 'frames' in line and 'lower --resolution' in line, line
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('launcher,config', [
    ('harlow', 'harlow_paper.cfg'), ('navigation', 'navigation_paper.cfg'),
    ('harlow', 'harlow.cfg'), ('bandits', 'bandits_independent.cfg'),
])
def test_config_bounds_stay_below_the_update_estimate(launcher, config):
  """`check_config`'s lower bounds never refuse what `check_run` accepts."""
  module = __import__(launcher)
  fv = flags.FlagValues()
  module.define_flags(fv)
  fv([launcher, '--flagfile=' + os.path.join(ROOT, 'launch', 'configs', config),
      '--run_dir=unused'])
  job = common.job_from_flags(module.make_task, fv)
  core, agent, train = _job(launcher, '--flagfile=' + os.path.join(
      ROOT, 'launch', 'configs', config))
  lower = preflight.config_memory(job.task.kwargs, job.agent, job.train)
  assert 0 < sum(lower.values()) < sum(
      preflight.update_memory(core, agent, train).values())
  preflight.check_config(job.task.kwargs, job.agent, job.train)
