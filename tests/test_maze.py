"""The I-maze (Exp 7): map parsing and its errors, ray casting against
hand-computed distances, movement and collisions, the goal and respawn, the
goal's visibility, and both faces."""

import math

import numpy as np
import pytest
import tensorflow as tf

import environments
from environments import core as core_lib
from environments import maze as maze_lib

import traces

F, B, L, R, SL, SR = range(6)
UP, DOWN, EAST, WEST = -math.pi / 2, math.pi / 2, 0.0, math.pi

globals().update(traces.conformance_tests(
    ['imaze'], seed=3, num_steps=60, resolution=16, episode_frames=25))


@pytest.fixture(scope='module')
def task():
  return maze_lib.MazeTask(resolution=16)


def _state(task, x, y, heading, goal=0, visits=0, frames=0, since=0):
  state, _ = task.reset(core_lib.make_key(0), 1)
  i32 = lambda v: tf.constant([v], tf.int32)
  return state._replace(position=tf.constant([[x, y]], tf.float32),
                        heading=tf.constant([heading], tf.float32),
                        goal=i32(goal), goal_visits=i32(visits),
                        frames=i32(frames), since=i32(since))


def _run(task, state, actions):
  outs = []
  for i, a in enumerate(actions):
    state, out = task.step(core_lib.make_key(i), state,
                           tf.constant([a], tf.int32))
    outs.append(out)
  return state, outs


# ---------------------------------------------------------------- maps


def test_the_default_i_maze():
  m = maze_lib.parse_maze(maze_lib.I_MAZE)
  assert m.shape == (13, 7)
  assert m.goals == ((1, 1), (1, 5), (11, 1), (11, 5))  # the four alcoves
  assert m.spawns == tuple((r, 3) for r in range(4, 9))  # central corridor
  assert m.apples == ()
  assert not m.walls[3, 1:6].any() and not m.walls[9, 1:6].any()  # cross


@pytest.mark.parametrize('text, message', [
    ('', 'empty'),
    ('*****\n*P G*\n****', 'line 3 has 4 characters'),
    ('*****\n*P G \n*****', 'not closed: line 2, column 5'),
    ('*****\n*  G*\n*****', 'no spawn'),
    ('*****\n*P  *\n*****', 'no goal'),
    ('*****\n*PxG*\n*****', "line 2, column 3: unknown cell 'x'"),
    ('*******\n*P*G  *\n*******', "line 2, column 4: 'G' cannot be reached"),
])
def test_malformed_maps_are_named_errors(text, message):
  with pytest.raises(maze_lib.MazeError, match=message):
    maze_lib.parse_maze(text)


def test_a_users_map_from_a_file(tmp_path):
  path = tmp_path / 'square.txt'
  path.write_text('\n*****\n*P A*\n* * *\n*  G*\n*****\n\n')
  m = maze_lib.load_maze(str(path))
  assert m.shape == (5, 5) and m.goals == ((3, 3),) and m.apples == ((1, 3),)
  task = maze_lib.MazeTask(m.text, resolution=16, apples=True)
  state, obs = task.reset(core_lib.make_key(1), 3)
  assert obs['pixels'].shape == (3, 16, 16, 3)
  (tmp_path / 'bad.txt').write_text('*****\n*P  *\n*****')
  with pytest.raises(maze_lib.MazeError, match='bad.txt: maze has no goal'):
    maze_lib.load_maze(str(tmp_path / 'bad.txt'))


# ---------------------------------------------------------------- rays


def _rays(task, x, y, heading):
  t, cell, y_face, u = task.renderer.cast_rays(
      tf.constant([[x, y]], tf.float32), tf.constant([heading], tf.float32))
  return t.numpy()[0], cell.numpy()[0], y_face.numpy()[0], u.numpy()[0]


def test_rays_up_the_central_corridor(task):
  # 16 columns: camera coordinates c = (i + 0.5) / 8 - 1; fov 90 so the ray
  # of column i points along (c, -1) when facing up (-y).
  t, cell, y_face, _ = _rays(task, 3.5, 6.5, UP)
  # Near the middle the rays reach the wall above the cross corridor (row 2)
  # at y = 3: perpendicular distance 6.5 - 3 = 3.5.
  np.testing.assert_allclose(t[7:9], 3.5, rtol=1e-5)
  assert cell[7] == cell[8] == 2 * 7 + 3 and y_face[7:9].all()
  # The outermost columns (c = -+15/16) hit the corridor's sides at x = 3
  # and x = 4, half a cell away: t = 0.5 / (15 / 16).
  np.testing.assert_allclose(t[[0, 15]], 0.5 * 16 / 15, rtol=1e-5)
  assert not y_face[0] and not y_face[15]
  # At y = 6.5 - 0.533 = 5.97: row 5.
  assert cell[0] == 5 * 7 + 2 and cell[15] == 5 * 7 + 4


def test_rays_along_the_cross_corridor_and_diagonally(task):
  t, cell, _, _ = _rays(task, 1.5, 3.5, EAST)
  # The outer wall (column 6) at x = 6: 4.5 cells ahead.
  np.testing.assert_allclose(t[7:9], 4.5, rtol=1e-5)
  assert cell[7] == 3 * 7 + 6
  # Facing down-right from (1.5, 3.3): column 8's ray (c = 1/16) runs along
  # f + c p with f = (1, 1)/sqrt2, p = (-1, 1)/sqrt2, so it crosses y = 4
  # (the wall row below the cross corridor) at t = 0.7 / ((1 + c)/sqrt2),
  # x = 1.5 + t (1 - c)/sqrt2 = 2.12 (column 2), after crossing x = 2 at
  # y = 3.87 (still the corridor).
  t, cell, y_face, _ = _rays(task, 1.5, 3.3, math.pi / 4)
  expected = 0.7 / ((1 + 1 / 16) / math.sqrt(2))
  np.testing.assert_allclose(t[8], expected, rtol=1e-5)
  assert cell[8] == 4 * 7 + 2 and y_face[8]


def test_wall_height_follows_the_distance():
  task = maze_lib.MazeTask(resolution=32)
  pixels = task.observe(_state(task, 3.5, 6.5, UP))['pixels'].numpy()[0]
  sky = np.all(pixels == maze_lib.SKY_RGB, axis=-1)
  # Wall 3.5 away: 32 / 3.5 = 9.1 pixels tall, centred on row 16.
  column = sky[:, 16]
  assert column[:11].all() and not column[12:].any()


# ---------------------------------------------------------------- motion


def test_actions_move_turn_and_strafe(task):
  c = task.config
  s, _ = _run(task, _state(task, 3.5, 6.5, UP), [F, F])
  np.testing.assert_allclose(s.position.numpy()[0], [3.5, 6.5 - 2 * c.move_speed],
                             atol=1e-6)
  s, _ = _run(task, _state(task, 3.5, 6.5, UP), [B])
  np.testing.assert_allclose(s.position.numpy()[0], [3.5, 6.6], atol=1e-6)
  s, _ = _run(task, _state(task, 3.0, 3.5, UP), [SR, SR, SL])  # right is +x
  np.testing.assert_allclose(s.position.numpy()[0], [3.1, 3.5], atol=1e-6)
  s, _ = _run(task, _state(task, 3.5, 6.5, UP), [R, R, L, R])
  assert float(s.heading[0]) == pytest.approx(UP + math.radians(15), abs=1e-5)
  s, _ = _run(task, _state(task, 3.5, 6.5, WEST - 0.01), [R])  # wraps
  assert float(s.heading[0]) == pytest.approx(-math.pi + math.radians(7.5) -
                                              0.01, abs=1e-5)


def test_walls_stop_the_body(task):
  # Facing the corridor's side wall at x = 4: the body (half-side 0.25)
  # stops at x <= 3.75 and never moves along y.
  s, _ = _run(task, _state(task, 3.5, 6.5, EAST), [F] * 10)
  x, y = s.position.numpy()[0]
  assert 3.6 <= x <= 3.75 and y == pytest.approx(6.5)


def test_sliding_along_a_wall_and_no_cutting_corners(task):
  # Heading up-left along the corridor's side wall: the x part is refused,
  # the y part slides up.
  s, _ = _run(task, _state(task, 3.3, 6.5, -3 * math.pi / 4), [F] * 5)
  x, y = s.position.numpy()[0]
  assert x == pytest.approx(3.3) and y < 6.5 - 0.3
  # Random walks anywhere: the body never overlaps a wall cell.
  walls = task.maze.walls
  rng = np.random.default_rng(0)
  state, _ = task.reset(core_lib.make_key(5), 64)
  step = tf.function(task.transition)
  r = task.config.agent_radius
  for i in range(300):
    action = tf.constant(rng.integers(0, 6, 64), tf.int32)
    state, _ = step(core_lib.make_key(i), state, action)
    xy = state.position.numpy()
    for dx in (-r, r):
      for dy in (-r, r):
        cells = np.floor(xy + [dx, dy]).astype(int)
        assert not walls[cells[:, 1], cells[:, 0]].any()


# ---------------------------------------------------------------- goal


def test_reaching_the_goal_pays_and_respawns_the_agent(task):
  state = _state(task, 1.5, 2.05, UP, goal=0, frames=40, since=40)
  state, (out,) = _run(task, state, [F])
  assert float(out.reward[0]) == 10.0
  m = {k: float(v[0]) for k, v in out.metrics.items()}
  assert m['goal_visits'] == m['first_visits'] == 1 and m['later_visits'] == 0
  assert m['first_latency'] == 41
  x, y = state.position.numpy()[0]
  assert x == 3.5 and y in (4.5, 5.5, 6.5, 7.5, 8.5)  # a spawn cell's centre
  assert int(state.goal[0]) == 0 and int(state.goal_visits[0]) == 1
  assert int(state.since[0]) == 0 and int(state.frames[0]) == 41
  # The next visit counts as a later one, timed from the respawn.
  state = state._replace(position=tf.constant([[1.5, 2.05]]),
                         heading=tf.constant([UP]), since=tf.constant([12]))
  _, (out,) = _run(task, state, [F])
  assert float(out.metrics['later_visits'][0]) == 1
  assert float(out.metrics['later_latency'][0]) == 13
  # Another alcove pays nothing.
  _, (out,) = _run(task, _state(task, 5.5, 2.05, UP, goal=0), [F])
  assert float(out.reward[0]) == 0.0


def test_goal_is_seen_only_with_a_line_of_sight():
  task = maze_lib.MazeTask(resolution=32)

  def goal_pixels(x, y, heading):
    pixels = task.observe(_state(task, x, y, heading, goal=0))['pixels']
    return int(np.all(pixels.numpy()[0] == maze_lib.GOAL_RGB, -1).sum())

  assert goal_pixels(1.5, 3.5, UP) > 10  # from the alcove's mouth
  # From the junction the goal lies straight ahead (2.8 cells), but the wall
  # cell (row 2, column 2) stands in between.
  assert goal_pixels(3.5, 3.5, -3 * math.pi / 4) == 0
  assert goal_pixels(1.5, 3.5, DOWN) == 0  # behind the agent


def test_episode_lasts_episode_frames_and_metrics_derive(task):
  state = _state(task, 3.5, 6.5, UP, frames=task.config.episode_frames - 2)
  _, outs = _run(task, state, [L, L])
  assert [bool(o.last[0]) for o in outs] == [False, True]
  assert float(outs[1].discount[0]) == 0.0
  d = task.derived_metrics({'episodes': 4, 'goal_visits': 10,
                            'first_visits': 3, 'first_latency': 600,
                            'later_visits': 7, 'later_latency': 420})
  assert d['visits_per_episode'] == 2.5 and d['p_found'] == 0.75
  assert d['latency_first'] == 200 and d['latency_later'] == 60
  assert d['latency_ratio'] == pytest.approx(0.3)


def test_apples_pay_once_until_the_respawn():
  m = maze_lib.parse_maze('*****\n*PA *\n*  G*\n*****')
  task = maze_lib.MazeTask(m.text, resolution=16, apples=True)
  state = _state(task, 1.9, 1.5, EAST, goal=0)
  state, outs = _run(task, state, [F, F, B, B, F, F])
  assert [float(o.reward[0]) for o in outs] == [1, 0, 0, 0, 0, 0]
  assert float(sum(o.metrics['apples'][0] for o in outs)) == 1
  off = maze_lib.MazeTask(m.text, resolution=16)  # apples off by default
  _, outs = _run(off, _state(off, 1.9, 1.5, EAST), [F, F])
  assert sum(float(o.reward[0]) for o in outs) == 0


def test_faces_agree_and_the_view_renders_the_last_frame():
  env = environments.make_environment('imaze', seed=2, resolution=16,
                                      episode_frames=24, action_repeat=2)
  actions = np.random.default_rng(0).integers(0, 6, 30).astype(np.int32)
  infos, _, _ = traces.assert_faces_agree(env, 2, actions)
  assert set(infos) == {'position', 'heading', 'goal', 'goal_visits', 'frames'}
  task = maze_lib.MazeTask(resolution=16)
  wrapped = core_lib.ActionRepeat(task, 4)
  state = _state(task, 3.5, 6.5, UP)
  s1, out = wrapped.step(core_lib.make_key(0), state, tf.constant([F]))
  s2, _ = _run(task, state, [F] * 4)
  np.testing.assert_array_equal(out.observation['pixels'],
                                task.observe(s2)['pixels'])
  np.testing.assert_allclose(s1.position, s2.position)


def test_plot_maze_draws_trajectories(tmp_path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  m = maze_lib.parse_maze(maze_lib.I_MAZE)
  fig, ax = plt.subplots()
  maze_lib.plot_maze(ax, m, trajectories=[[(3.5, 6.5), (3.5, 3.5),
                                           (1.5, 3.5), (1.5, 1.5)]],
                     goal=0, visits=[(1.5, 1.5)])
  assert len(ax.lines) == 1 and ax.get_xlim() == (0, 7)
  fig.savefig(tmp_path / 'maze.png')
  plt.close(fig)


def test_the_step_compiles_with_xla_and_renders_the_same_view():
  """`--jit_env` compiles the step with XLA: each mode repeats itself, and
  the two render the same views (up to a few edge pixels where XLA's float
  arithmetic rounds otherwise)."""
  core = core_lib.ActionRepeat(maze_lib.MazeTask(resolution=24,
                                                 episode_frames=40), 4)

  actions = tf.constant(np.random.default_rng(1).integers(0, 6, (12, 8)),
                        tf.int32)

  def play():
    key = core_lib.make_key(7)
    state, obs = core.reset(key, 8)
    pixels, total = obs['pixels'], tf.zeros([8])
    for i in tf.range(12):
      state, out = core.step(core_lib.fold_in(key, i + 1), state, actions[i])
      pixels, total = out.observation['pixels'], total + out.reward
    return state.position, total, pixels

  results = {}
  for jit in (False, True):
    compiled = tf.function(play, jit_compile=jit)
    first, again = compiled(), compiled()
    for x, y in zip(first, again):  # each mode repeats itself exactly
      np.testing.assert_array_equal(x, y)
    results[jit] = [x.numpy() for x in first]
  pos, _, pixels = results[False]
  assert pixels.shape == (8, 24, 24, 3)
  # The views of the same states agree across modes.
  task = core.core
  state, _ = task.reset(core_lib.make_key(0), 8)
  state = state._replace(position=tf.constant(pos))
  eager = task.observe(state)['pixels'].numpy()
  xla = tf.function(task.observe, jit_compile=True)(state)['pixels'].numpy()
  assert (eager == xla).all(-1).mean() > 0.99
