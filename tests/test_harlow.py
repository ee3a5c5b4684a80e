"""Harlow's task (Exp 6): every rule on hand-built states, the renderer against
a plain NumPy drawing, image sets, and both faces."""

import os

import numpy as np
import pytest
import tensorflow as tf

import environments
from environments import core as core_lib
from environments import harlow
from environments import images as images_lib
from meta_rl import task_specs

import traces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, 'testdata', 'harlow_images')
LEFT, RIGHT, NOOP = harlow.LEFT, harlow.RIGHT, harlow.NOOP
FIX, CHOICE, ITI = harlow.FIXATION, harlow.CHOICE, harlow.INTERVAL

globals().update(traces.conformance_tests(
    ['harlow'], seed=3, num_steps=150, num_images=4, resolution=24,
    max_steps=40))


@pytest.fixture(scope='module')
def task():
  return harlow.HarlowTask(num_images=6)


def _state(gaze=0.0, turn=0.0, phase=FIX, counter=0, trial=0, steps=0,
           images=(0, 1), side=0, first_correct=-1):
  i32 = lambda v: tf.constant([v], tf.int32)
  return harlow.HarlowState(
      gaze=tf.constant([gaze], tf.float32), turn=tf.constant([turn], tf.float32),
      phase=i32(phase), counter=i32(counter), trial=i32(trial),
      steps=i32(steps), images=tf.constant([images], tf.int32),
      rewarded_side=i32(side), first_correct=i32(first_correct))


def _run(task, state, actions, seed=0):
  """Steps a batch of one; returns (final state, [(reward, last, metrics)])."""
  outs = []
  key = core_lib.make_key(seed)
  for i, a in enumerate(actions):
    state, out = task.step(core_lib.fold_in(key, i), state,
                           tf.constant([a], tf.int32))
    outs.append((float(out.reward[0]), bool(out.last[0]),
                 {k: float(v[0]) for k, v in out.metrics.items()}))
  return state, outs


def test_registered_with_the_papers_geometry():
  c = harlow.HarlowConfig()
  assert (c.resolution, c.screen_degrees, c.image_size) == (84, 65.0, 34)
  assert c.fixation_tolerance == 3.5 and c.fixation_hold == 4
  assert c.selection_tolerance == 7.0 and c.intertrial_interval == 10
  assert (c.num_trials, c.max_steps) == (10, 3600)
  assert c.image_columns() == (0, 50)  # the images touch the screen's edges
  # From anywhere in the fixation window an image is > 8 full-speed steps
  # (two decisions of 4) away from being selected.
  gap = c.image_degrees - c.fixation_tolerance - c.selection_tolerance
  assert 8 * c.turn_degrees < gap < 9 * c.turn_degrees
  core = environments.make_core('harlow', action_repeat=4, num_images=4)
  assert core.episode_length == 900 and core.num_actions == 3
  assert environments.unwrap(core).observation_spec()['pixels'].shape == (84, 84, 3)
  assert 'harlow' in task_specs.LAUNCHER_TASKS['harlow']


def test_momentum_carries_a_quarter_of_the_last_turn(task):
  state, _ = _run(task, _state(), [RIGHT])
  assert float(state.turn[0]) == pytest.approx(0.75 * 1.1)
  state, _ = _run(task, state, [RIGHT])
  assert float(state.turn[0]) == pytest.approx(0.25 * 0.825 + 0.825)
  before = float(state.gaze[0])
  state, _ = _run(task, state, [NOOP])  # the carry of a no-op
  assert float(state.gaze[0]) - before == pytest.approx(0.25 * 1.03125)
  state, _ = _run(task, _state(), [LEFT] * 40)  # full speed is 1.1 per step
  assert float(state.turn[0]) == pytest.approx(-1.1, abs=1e-4)


def test_gaze_wraps_around_360_degrees_and_sees_black_off_screen(task):
  state, _ = _run(task, _state(gaze=179.5, turn=1.1), [RIGHT])
  assert float(state.gaze[0]) == pytest.approx(-179.4, abs=1e-4)
  pixels = task.observe(state)['pixels'].numpy()[0]
  assert pixels.max() == 0  # looking away from the screen
  # A full turn brings the gaze back: 360 / 1.1 steps at full speed.
  state, _ = _run(task, _state(turn=1.1), [RIGHT] * 327)
  assert abs(float(state.gaze[0]) - (327 * 1.1 - 360)) < 1e-2


def test_fixation_pays_after_four_steps_within_tolerance(task):
  state, outs = _run(task, _state(gaze=3.4), [NOOP] * 4)
  assert [o[0] for o in outs] == pytest.approx([0.0, 0.0, 0.0, 0.2])
  assert int(state.phase[0]) == CHOICE
  assert outs[-1][2]['fixations'] == 1.0
  # Outside the tolerance nothing happens.
  state, outs = _run(task, _state(gaze=3.6), [NOOP] * 20)
  assert int(state.phase[0]) == FIX and sum(o[0] for o in outs) == 0.0
  # Leaving the window restarts the count: 3 steps in, out, then 4 more in.
  state, _ = _run(task, _state(gaze=-2.0), [NOOP] * 3)
  assert int(state.counter[0]) == 3
  state = state._replace(gaze=tf.constant([5.0]))  # e.g. a saccade away
  state, _ = _run(task, state, [NOOP])
  assert int(state.counter[0]) == 0
  state = state._replace(gaze=tf.constant([0.0]))
  state, outs = _run(task, state, [NOOP] * 4)
  assert [o[0] for o in outs] == pytest.approx([0.0, 0.0, 0.0, 0.2])


def test_a_sweep_through_the_window_does_not_fixate():
  sweeping = [RIGHT] * 12  # from -6 deg: 6 steps inside the window
  task = harlow.HarlowTask(num_images=2)
  state, outs = _run(task, _state(gaze=-6.0, turn=1.1), sweeping)
  assert int(state.phase[0]) == FIX and all(o[0] == 0 for o in outs)
  loose = harlow.HarlowTask(num_images=2, hold_still=False)
  state, outs = _run(loose, _state(gaze=-6.0, turn=1.1), sweeping)
  assert int(state.phase[0]) == CHOICE and sum(o[0] for o in outs) == pytest.approx(0.2)


@pytest.mark.parametrize('side', [0, 1])
def test_selection_tolerance_and_rewards(task, side):
  offset = task.config.image_degrees
  # 7.05 deg from the left image's centre: not selected; 6.95: selected.
  state, outs = _run(task, _state(gaze=-offset + 7.05, phase=CHOICE, side=side),
                     [NOOP] * 3)
  assert int(state.phase[0]) == CHOICE and outs[-1][0] == 0.0
  state, outs = _run(task, _state(gaze=-offset + 6.95, phase=CHOICE, side=side),
                     [NOOP])
  assert outs[0][0] == (1.0 if side == 0 else -1.0)
  assert int(state.phase[0]) == ITI and int(state.trial[0]) == 1
  assert outs[0][2]['trials'] == 1.0
  assert outs[0][2]['correct'] == outs[0][2]['first_correct'] == (side == 0)
  # The right image from the other side.
  state, outs = _run(task, _state(gaze=offset - 6.95, phase=CHOICE, side=side),
                     [NOOP])
  assert outs[0][0] == (1.0 if side == 1 else -1.0)


def test_selection_takes_three_decisions_from_the_cross(task):
  """12 primitive steps (3 decisions) from the cross; never 8 (2 decisions)
  from anywhere in the fixation window, even at full speed."""
  state, outs = _run(task, _state(phase=CHOICE), [RIGHT] * 12)
  assert [o[0] != 0 for o in outs].index(True) == 11
  tol = task.config.fixation_tolerance
  state, outs = _run(task, _state(gaze=tol, turn=1.1, phase=CHOICE), [RIGHT] * 8)
  assert int(state.phase[0]) == CHOICE and all(o[0] == 0 for o in outs)


def test_intertrial_interval_then_a_new_trial_with_fresh_sides(task):
  sides = set()
  for seed in range(12):
    state, outs = _run(task, _state(phase=ITI, trial=1), [NOOP] * 10,
                       seed=seed)
    phases_seen = int(state.phase[0])
    assert phases_seen == FIX
    sides.add(int(state.rewarded_side[0]))
    # The interval's 9 first steps keep the blank screen.
    state9, _ = _run(task, _state(phase=ITI, trial=1), [NOOP] * 9, seed=seed)
    assert int(state9.phase[0]) == ITI
  assert sides == {0, 1}
  pixels = task.observe(_state(phase=ITI))['pixels'].numpy()[0]
  assert (pixels == harlow.SCREEN_GREY).all()


def test_episode_ends_after_ten_trials_or_3600_steps(task):
  offset = task.config.image_degrees
  _, outs = _run(task, _state(gaze=offset, phase=CHOICE, trial=9), [NOOP])
  assert outs[0][1] and outs[0][2]['later_trials'] == 1.0
  _, outs = _run(task, _state(gaze=offset, phase=CHOICE, trial=8), [NOOP])
  assert not outs[0][1]
  _, outs = _run(task, _state(gaze=50.0, steps=3598), [NOOP, NOOP])
  assert [o[1] for o in outs] == [False, True]
  assert outs[1][2]['fixation_timeouts'] == 1.0
  # A whole episode of a fixed policy that never looks at the screen.
  state, _ = task.reset(core_lib.make_key(0), 2)
  state = state._replace(gaze=tf.constant([90.0, 90.0]))
  for i in range(3600):
    state, out = task.transition(core_lib.make_key(i), state,
                                 tf.constant([NOOP, NOOP]))
  assert out.last.numpy().all() and (out.discount.numpy() == 0).all()


def test_win_and_loss_split_metrics(task):
  offset = task.config.image_degrees
  # Trial 1 wrong (left chosen, right rewarded), then a correct later trial.
  _, outs = _run(task, _state(gaze=-offset, phase=CHOICE, side=1), [NOOP])
  assert outs[0][0] == -1.0
  _, outs = _run(task, _state(gaze=offset, phase=CHOICE, side=1, trial=1,
                              first_correct=0), [NOOP])
  m = outs[0][2]
  assert m['later_trials_after_loss'] == m['later_correct_after_loss'] == 1.0
  totals = {'episodes': 2, 'return': 0.0, 'trials': 4, 'correct': 3,
            'first_correct': 1, 'later_trials': 2, 'later_correct': 2,
            'later_trials_after_loss': 1, 'later_correct_after_loss': 1,
            'fixations': 4, 'fixation_timeouts': 1, 'frames': 200}
  d = task.derived_metrics(totals)
  assert d['p_correct_first'] == 0.5 and d['p_correct_later'] == 1.0
  assert d['p_correct_after_win'] == d['p_correct_after_loss'] == 1.0
  assert d['fixation_rate'] == 0.8 and d['frames_per_trial'] == 50.0
  assert d['image_reward_per_episode'] == 1.0


def _numpy_view(config, images, phase, gaze, left, right):
  """The view drawn the plain way: a grey screen, the cross or the images
  pasted on it, then shifted by the gaze with black beyond the edges."""
  r, s = config.resolution, config.image_pixels
  screen = np.full((r, r, 3), harlow.SCREEN_GREY, np.uint8)
  if phase == FIX:
    arm = max(1, round(config.cross_arm * r / 84))
    w = max(1, round(config.cross_width * r / 84))
    lo, c = r // 2 - w // 2, r // 2
    screen[c - arm:c + arm, lo:lo + w] = harlow.CROSS_RGB
    screen[lo:lo + w, c - arm:c + arm] = harlow.CROSS_RGB
  elif phase == CHOICE:
    top = (r - s) // 2
    l0, r0 = config.image_columns()
    screen[top:top + s, l0:l0 + s] = images[left]
    screen[top:top + s, r0:r0 + s] = images[right]
  shift = int(np.round(np.float32(gaze) * np.float32(config.pixels_per_degree)))
  view = np.zeros_like(screen)
  for j in range(r):
    if 0 <= j + shift < r:
      view[:, j] = screen[:, j + shift]
  return view


@pytest.mark.parametrize('resolution', [84, 42])
def test_renderer_matches_a_numpy_drawing(resolution):
  task = harlow.HarlowTask(num_images=5, resolution=resolution)
  for phase in (FIX, CHOICE, ITI):
    for gaze in (0.0, -7.3, 12.2, 40.0, -64.0, 170.0):
      for side in (0, 1):
        state = _state(gaze=gaze, phase=phase, images=(3, 1), side=side)
        got = task.observe(state)['pixels'].numpy()[0]
        left, right = (3, 1) if side == 0 else (1, 3)
        want = _numpy_view(task.config, task.images, phase, gaze, left, right)
        np.testing.assert_array_equal(got, want, err_msg=f'{phase} {gaze}')
  # At 84 px the images are 34x34 on rows 25-58, columns 0-33 and 50-83.
  assert harlow.HarlowConfig().image_pixels == 34


def test_reset_draws_distinct_pairs_and_both_rewarded_images(task):
  state, obs = task.reset(core_lib.make_key(1), 500)
  images = state.images.numpy()
  assert (images[:, 0] != images[:, 1]).all()
  assert set(images.ravel()) == set(range(6))
  assert 0.4 < state.rewarded_side.numpy().mean() < 0.6
  assert (state.first_correct.numpy() == -1).all()
  assert obs['pixels'].shape == (500, 84, 84, 3)


def test_action_repeat_renders_the_decisions_last_frame(task):
  wrapped = core_lib.ActionRepeat(task, 4)
  state = _state(phase=CHOICE)
  s1, out = wrapped.step(core_lib.make_key(0), state, tf.constant([RIGHT]))
  s2, _ = _run(task, state, [RIGHT] * 4)
  np.testing.assert_array_equal(out.observation['pixels'],
                                task.observe(s2)['pixels'])
  assert float(out.metrics['frames'][0]) == 4.0
  assert float(s1.gaze[0]) == pytest.approx(float(s2.gaze[0]))


def test_faces_agree():
  env = environments.make_environment('harlow', seed=2, num_images=4,
                                      resolution=24, max_steps=60,
                                      action_repeat=2)
  actions = np.random.default_rng(0).integers(0, 3, 90).astype(np.int32)
  infos, rewards, _ = traces.assert_faces_agree(env, 2, actions)
  assert set(infos) == {'rewarded_side', 'trial', 'phase', 'gaze', 'images'}


# ---------------------------------------------------------------- images


def test_procedural_sets_are_seeded_distinct_and_held_out():
  train = images_lib.procedural('train', 120)
  again = images_lib.procedural('train', 60)
  np.testing.assert_array_equal(train[:60], again)  # prefix-stable
  test = images_lib.procedural('test', 120)
  assert train.shape == (120, 34, 34, 3) and train.dtype == np.uint8
  within = images_lib.distinctness(train)
  across = images_lib.distinctness(test, train)
  assert within.min() > 8 and np.median(within) > 25
  assert across.min() > 8  # no held-out image repeats a training image
  assert train.std(axis=(1, 2, 3)).min() > 5  # none is a flat colour


def test_folder_images_load_resized():
  images = images_lib.from_folder(os.path.join(TESTDATA, 'train'))
  assert images.shape[1:] == (34, 34, 3) and len(images) >= 2
  task = harlow.HarlowTask(split='test', image_dir=TESTDATA, resolution=42)
  assert task.num_images == len(os.listdir(os.path.join(TESTDATA, 'test')))
  assert task.images.shape[1:] == (17, 17, 3)


def test_bad_image_folders_are_value_errors(tmp_path):
  with pytest.raises(ValueError, match='does not exist'):
    images_lib.from_folder(str(tmp_path / 'missing'))
  (tmp_path / 'one').mkdir()
  (tmp_path / 'one' / 'a.png').write_bytes(
      open(os.path.join(TESTDATA, 'train', os.listdir(
          os.path.join(TESTDATA, 'train'))[0]), 'rb').read())
  with pytest.raises(ValueError, match='at least 2'):
    images_lib.from_folder(str(tmp_path / 'one'))
  (tmp_path / 'one' / 'b.jpg').write_bytes(b'not an image')
  with pytest.raises(ValueError, match='cannot read image .*b.jpg'):
    images_lib.from_folder(str(tmp_path / 'one'))


# ---------------------------------------------------------------- training


def _harlow_trainer(total_updates, core_name='stacked_lstm', jit_env=False):
  from meta_rl.agent import AgentConfig, make_agent  # pylint: disable=g-import-not-at-top
  from meta_rl.training import A2CConfig, InGraphTrainer, TrainConfig  # pylint: disable=g-import-not-at-top
  core = environments.make_core('harlow', action_repeat=4, resolution=24,
                                num_images=4, max_steps=60)
  agent = make_agent(core.observation_spec(), 3, AgentConfig(
      core=core_name, num_units=16, stacked_units=(16, 8), seed=1))
  return InGraphTrainer(core, agent, A2CConfig(max_grad_norm=40.0),
                        TrainConfig(batch_size=3, unroll_length=6, seed=1,
                                    total_steps=total_updates * 18,
                                    jit_env=jit_env))


def test_resume_continues_exactly_with_the_rendered_task(tmp_path):
  """Episodes of 15 decisions over unrolls of 6: the carried environment
  state (gaze, phase, images) is checkpointed and restored."""
  from meta_rl.run import loop  # pylint: disable=g-import-not-at-top
  straight = _harlow_trainer(5)
  for _ in range(5):
    straight.train_step()
  loop.run(_harlow_trainer(2), str(tmp_path), checkpoint_every=1,
             log=lambda s: None)
  resumed = _harlow_trainer(5)
  loop.run(resumed, str(tmp_path), resume=True, checkpoint_every=1,
             log=lambda s: None)
  for a, b in zip(straight.agent.trainable_variables,
                  resumed.agent.trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for a, b in zip(tf.nest.flatten(straight._carry),
                  tf.nest.flatten(resumed._carry)):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_xla_compiled_environment_step_is_reproducible():
  runs = []
  for _ in range(2):
    trainer = _harlow_trainer(3, core_name='lstm', jit_env=True)
    runs.append([trainer.train_step() for _ in range(3)])
  assert runs[0] == runs[1]
  assert all(np.isfinite(m['loss']) for m in runs[0])


@pytest.mark.parametrize('core_name', ['lstm', 'stacked_lstm'])
def test_checkpoint_policy_restores_every_weight(tmp_path, core_name):
  """A training checkpoint restored into a fresh agent (the kept checkpoints
  of Fig 6f) carries every weight, the conv encoder's included."""
  import json  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints, loop  # pylint: disable=g-import-not-at-top
  from meta_rl.spec import RunSpec, TaskConfig  # pylint: disable=g-import-not-at-top
  trainer = _harlow_trainer(2, core_name=core_name)
  loop.run(trainer, str(tmp_path), checkpoint_every=1, log=lambda s: None)
  spec = RunSpec(TaskConfig('harlow'), trainer.agent.config)
  with open(tmp_path / 'config.json', 'w') as f:
    json.dump(spec.to_json(), f)
  policy = evaluation.checkpoint_policy(
      str(tmp_path), checkpoints.kept_checkpoints(str(tmp_path))[2], trainer.core)
  trained = trainer.agent.trainable_variables
  restored = policy.agent.trainable_variables
  assert len(trained) == len(restored) >= 11
  for a, b in zip(trained, restored):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
