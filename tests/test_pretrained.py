"""Behavioural regression tests of the pretrained policies in testdata/.

Each shipped SavedModel (testdata/pretrained/<name>/1, see its README for how
it was trained) is rebuilt with the current code (`saved_model_agent`: the
agent of its config, its weights copied in), exported again with the current
`export_agent`, loaded frozen and played on its test task with a fixed seed;
its behaviour must stay what was recorded. So a change to the agent's input
encoding or network, to export, to evaluation or to an environment that
breaks a trained policy fails here, although every unit test may pass. The
shipped graph and the rebuilt one must also compute the same outputs.

The recorded values (`RECORDED`) come from `python tests/test_pretrained.py`,
which prints them; the tolerances are several standard errors of each
number over the test's episodes, so a platform's rounding differences (a few
sampled actions that flip) pass, a broken input (regret of a random or a
reward-blind agent: 5-25) does not.
"""

import os
import sys
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from meta_rl import analysis, evaluation, export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, 'testdata', 'pretrained')
SEED = 2024  # test episodes (training used other seeds)

# name -> (task, episodes): the policies and how many test episodes each plays.
MODELS = {
    'independent': ('independent', 500),  # Exp 1
    'uniform': ('uniform', 500),  # Exp 2, the dependent tasks
    'easy': ('easy', 500),
    'medium': ('medium', 500),
    'hard': ('hard', 500),
    'informative': ('informative', 500),  # Exp 3
    'restless': ('restless_test', 300),  # Exp 4, on the test volatilities
    'two_step': ('two_step', 500),  # Exp 5
    'harlow': ('harlow', 64),  # Exp 6, held-out images
    'navigation': ('imaze', 32),  # Exp 7
}


def task_core(name):
  """The test core of a pretrained policy."""
  meta = export.read_metadata(os.path.join(PRETRAINED, name))
  return evaluation.test_core(MODELS[name][0], meta)[0]


def rebuild(name, base_dir):
  """The shipped policy `name` rebuilt and exported again with the current
  code into `base_dir/name`; returns the SavedModel's path."""
  shipped = os.path.join(PRETRAINED, name)
  core = task_core(name)
  net = evaluation.saved_model_agent(shipped, core.observation_spec(),
                                     core.num_actions)
  return export.export_agent(net, core.observation_spec(),
                             os.path.join(base_dir, name),
                             export.read_metadata(shipped))


def measure(name, path):
  """The behaviour of the pretrained policy `name` (exported at `path`):
  per-episode means of reward and every task metric, with standard errors,
  and the choices the paper analyses (Exps 3, 5, 6, 7)."""
  task, n = MODELS[name]
  policy = evaluation.SavedModelPolicy(path)
  core, _ = evaluation.test_core(task, policy.metadata)
  policy.check_fits_core(core)
  episodes = evaluation.play_episodes(core, policy, n, seed=SEED)
  s = evaluation.summarise(episodes)
  out = {k: float(v) for k, v in s.items()
         if k.startswith('episode_')}
  if name == 'informative':
    actions = episodes['actions']
    out['first_pull_informative'] = float(
        (actions[:, 0] == core.informative_arm).mean())
    target = episodes['info_target'][:, 0]
    out['later_pulls_target'] = float(
        (actions[:, 1:] == target[:, None]).mean())
  if name == 'harlow':
    h = analysis.harlow_summary(analysis.harlow_trials(episodes))
    out.update({k: h[k] for k in ('p_correct_trial_1', 'p_correct_later',
                                  'p_correct_later_se')})
  if name == 'navigation':
    latency = analysis.navigation_trips(episodes)['latency']
    first, later = latency[:, 0], latency[:, 1:]
    out['p_found'] = float((~np.isnan(first)).mean())
    out['latency_first'] = float(np.nanmean(first))
    out['latency_later'] = float(np.nanmean(later))
    out['latency_later_se'] = float(np.nanstd(later, ddof=1) /
                                    np.sqrt(np.sum(~np.isnan(later))))
  if name == 'two_step':
    stay = analysis.stay_probabilities(analysis.two_step_trials(episodes))
    out.update({f'stay_{k}': v['p_stay'] for k, v in stay.items()})
    out.update({f'stay_{k}_se': v['se'] for k, v in stay.items()})
  return out


# Measured with `python tests/test_pretrained.py` on the exported models
# (TF 2.21 tensorflow-cpu, x86_64).
RECORDED = {
    'easy': {
        'episode_return': 89.392,
        'episode_return_se': 0.1428,
        'episode_regret': 0.616,
        'episode_regret_se': 0.032,
        'episode_suboptimal': 0.77,
        'episode_suboptimal_se': 0.04
    },
    'hard': {
        'episode_return': 58.24,
        'episode_return_se': 0.2631,
        'episode_regret': 2.4068,
        'episode_regret_se': 0.1594,
        'episode_suboptimal': 12.034,
        'episode_suboptimal_se': 0.797
    },
    'harlow': {
        'episode_return': 10.9062,
        'episode_return_se': 0.1989,
        'episode_correct': 9.4531,
        'episode_correct_se': 0.0994,
        'episode_first_correct': 0.5938,
        'episode_first_correct_se': 0.0619,
        'episode_fixation_timeouts': 0.0,
        'episode_fixation_timeouts_se': 0.0,
        'episode_fixations': 10.0,
        'episode_fixations_se': 0.0,
        'episode_frames': 67.4844,
        'episode_frames_se': 0.1355,
        'episode_later_correct_after_loss': 3.6094,
        'episode_later_correct_after_loss_se': 0.5517,
        'episode_later_correct': 8.8594,
        'episode_later_correct_se': 0.0799,
        'episode_later_trials_after_loss': 3.6562,
        'episode_later_trials_after_loss_se': 0.5569,
        'episode_later_trials': 9.0,
        'episode_later_trials_se': 0.0,
        'episode_trials': 10.0,
        'episode_trials_se': 0.0,
        'p_correct_later': 0.9844,
        'p_correct_later_se': 0.0052,
        'p_correct_trial_1': 0.5938
    },
    'independent': {
        'episode_return': 65.776,
        'episode_return_se': 1.1303,
        'episode_regret': 1.9357,
        'episode_regret_se': 0.1113,
        'episode_suboptimal': 15.494,
        'episode_suboptimal_se': 1.1497
    },
    'informative': {
        'episode_return': 20.5442,
        'episode_return_se': 0.013,
        'episode_regret': 4.4558,
        'episode_regret_se': 0.013,
        'episode_suboptimal': 1.0,
        'episode_suboptimal_se': 0.0,
        'first_pull_informative': 1.0,
        'later_pulls_target': 1.0
    },
    'medium': {
        'episode_return': 74.212,
        'episode_return_se': 0.2136,
        'episode_regret': 0.972,
        'episode_regret_se': 0.0648,
        'episode_suboptimal': 1.944,
        'episode_suboptimal_se': 0.1297
    },
    'navigation': {
        'episode_return': 82.8125,
        'episode_return_se': 9.6953,
        'episode_apples': 0.0,
        'episode_apples_se': 0.0,
        'episode_first_latency': 455.9062,
        'episode_first_latency_se': 80.789,
        'episode_first_visits': 0.9688,
        'episode_first_visits_se': 0.0312,
        'episode_frames': 1800.0,
        'episode_frames_se': 0.0,
        'episode_goal_visits': 8.2812,
        'episode_goal_visits_se': 0.9695,
        'episode_later_latency': 1116.25,
        'episode_later_latency_se': 102.5693,
        'episode_later_visits': 7.3125,
        'episode_later_visits_se': 0.9614,
        'latency_first': 118.0968,
        'latency_later': 38.1581,
        'latency_later_se': 1.663,
        'p_found': 0.9688
    },
    'restless': {
        'episode_return': 89.7467,
        'episode_return_se': 0.5281,
        'episode_regret': 22.965,
        'episode_regret_se': 0.4295,
        'episode_suboptimal': 52.2167,
        'episode_suboptimal_se': 0.7242
    },
    'two_step': {
        'episode_return': 6.794,
        'episode_return_se': 0.0688,
        'episode_trials': 10.0,
        'episode_trials_se': 0.0,
        'stay_rewarded_common': 0.9986,
        'stay_rewarded_common_se': 0.0007,
        'stay_rewarded_rare': 0.5028,
        'stay_rewarded_rare_se': 0.0374,
        'stay_unrewarded_common': 0.4874,
        'stay_unrewarded_common_se': 0.0205,
        'stay_unrewarded_rare': 0.9989,
        'stay_unrewarded_rare_se': 0.0011
    },
    'uniform': {
        'episode_return': 74.512,
        'episode_return_se': 0.6985,
        'episode_regret': 1.5186,
        'episode_regret_se': 0.1042,
        'episode_suboptimal': 8.592,
        'episode_suboptimal_se': 0.7852
    }
}


def _close(got, recorded, se, k=4.0):
  assert abs(got - recorded) <= k * se + 0.02 * abs(recorded) + 1e-6, (
      got, recorded, se)


_REBUILT_DIR = tempfile.TemporaryDirectory(prefix='rebuilt_policies_')
_MEASURED = {}


def _rebuilt(name):
  path = os.path.join(_REBUILT_DIR.name, name, '1')
  if not os.path.isdir(path):
    if not os.path.isdir(os.path.join(PRETRAINED, name)):
      pytest.fail(f'testdata/pretrained/{name} is missing')
    rebuild(name, _REBUILT_DIR.name)
  return path


def _measured(name):
  """`measure` of the rebuilt policy, once per session (several tests read
  it)."""
  if name not in _MEASURED:
    _MEASURED[name] = measure(name, _rebuilt(name))
  return _MEASURED[name]


@pytest.mark.parametrize('name', sorted(MODELS))
def test_rebuilt_agent_computes_what_the_shipped_graph_does(name):
  """The current agent code, given the shipped weights, gives the shipped
  SavedModel's logits, value and next state on the same (random) inputs."""
  shipped = tf.saved_model.load(os.path.join(PRETRAINED, name, '1'))
  rebuilt = tf.saved_model.load(_rebuilt(name))
  core = task_core(name)
  rng = np.random.default_rng(0)
  batch = 3
  state = shipped.signatures['initial_state'](batch_size=tf.constant(batch))
  state = {k: tf.constant(rng.normal(size=v.shape).astype(np.float32))
           for k, v in state.items()}
  inputs = {'prev_action': tf.constant([-1, 0, core.num_actions - 1],
                                       tf.int32),
            'prev_reward': tf.constant(rng.normal(size=batch), tf.float32)}
  for key, spec in core.observation_spec().items():
    lo = getattr(spec, 'minimum', 0)
    hi = getattr(spec, 'maximum', 255 if spec.dtype == np.uint8 else 1)
    x = rng.uniform(lo, hi, size=(batch,) + spec.shape)
    inputs[key] = tf.constant(x.astype(spec.dtype))
  a = shipped.signatures['step'](**inputs, **state)
  b = rebuilt.signatures['step'](**inputs, **state)
  for key in a:
    if key != 'action':  # sampled
      np.testing.assert_allclose(b[key].numpy(), a[key].numpy(), atol=1e-5,
                                 err_msg=key)


@pytest.mark.parametrize('name', sorted(MODELS))
def test_reward_and_metrics_as_recorded(name):
  got, rec = _measured(name), RECORDED[name]
  for key, value in rec.items():
    if key.startswith('episode_') and not key.endswith('_se'):
      _close(got[key], value, rec[key + '_se'])


@pytest.mark.parametrize('name', ['independent', 'uniform', 'easy', 'medium',
                                  'hard'])
def test_exp1_and_exp2_regret_well_below_chance(name):
  got = _measured(name)
  # A uniformly random policy's expected regret is 100 * E|p1 - p2| / 2:
  # 16.7 (independent), >= 5 on the others; the recorded agents: 0.6-2.4.
  assert got['episode_regret'] < 4.0


def test_exp3_pulls_the_informative_arm_first():
  name = 'informative'
  got = _measured(name)
  _close(got['first_pull_informative'],
         RECORDED[name]['first_pull_informative'], 0.02)
  assert got['first_pull_informative'] > 0.9
  assert got['later_pulls_target'] > 0.9  # then exploits what it read


def test_exp5_model_based_stay_pattern():
  name = 'two_step'
  got = _measured(name)
  rec = RECORDED[name]
  for cond in ('rewarded_common', 'rewarded_rare', 'unrewarded_common',
               'unrewarded_rare'):
    _close(got[f'stay_{cond}'], rec[f'stay_{cond}'], rec[f'stay_{cond}_se'])
  # Fig 5b's model-based signature: reward x transition interaction > 0
  # (stay more after rewarded common and unrewarded rare trials).
  interaction = ((got['stay_rewarded_common'] - got['stay_rewarded_rare'])
                 - (got['stay_unrewarded_common'] - got['stay_unrewarded_rare']))
  assert interaction > 0.2
  assert got['stay_rewarded_common'] > got['stay_rewarded_rare']
  assert got['stay_unrewarded_rare'] > got['stay_unrewarded_common']


def test_exp6_one_shot_on_held_out_images():
  name = 'harlow'
  got = _measured(name)
  _close(got['p_correct_later'], RECORDED[name]['p_correct_later'],
         RECORDED[name]['p_correct_later_se'])
  assert got['p_correct_later'] > 0.9  # trials 2-10: one-shot
  assert abs(got['p_correct_trial_1'] - 0.5) < 0.2  # trial 1: a guess


def test_exp7_returns_to_the_goal_faster_than_it_found_it():
  name = 'navigation'
  got = _measured(name)
  rec = RECORDED[name]
  assert got['p_found'] > 0.8
  assert got['latency_later'] < 0.6 * got['latency_first']
  _close(got['latency_later'], rec['latency_later'], rec['latency_later_se'])


if __name__ == '__main__':
  import json  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  for model in (sys.argv[1:] or sorted(MODELS)):
    t = time.time()
    values = measure(model, _rebuilt(model))  # as the tests measure it
    print(f'    {model!r}: ' + json.dumps(
        {k: round(v, 4) for k, v in values.items()}) + ',',
          f'# {time.time() - t:.1f} s', flush=True)
