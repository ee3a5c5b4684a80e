"""Train an agent on one-shot navigation in the I-maze (Exp 7, Section 3.2.3).

  python launch/navigation.py --flagfile=launch/configs/navigation.cfg --run_dir=runs/nav
  python launch/navigation.py --flagfile=launch/configs/navigation_ff.cfg --run_dir=runs/nav_ff

The agent sees a first-person view rendered by ray casting inside the training
graph (`pixels`, RESOLUTION x RESOLUTION RGB) plus, for the stacked LSTM ("Nav
A3C", Fig 1c), its previous action and reward; the feed-forward agent ("FF
A3C") sees only the current image. Each episode hides the goal in one of the
map's 'G' cells; reaching it pays 10 and respawns the agent, the goal staying
where it is. Six actions: forward, backward, turn left, turn right, strafe
left, strafe right (environments/maze/task.py documents the speeds and
rules).
--maze_file draws your own map (DeepMind Lab text convention: '*' wall, ' '
floor, 'P' spawn, 'G' goal, 'A' apple); the map itself is stored with the run.
Same run dir, checkpoints, TensorBoard and SavedModel contract as
launch/bandits.py; analyse with launch/exp7_navigation.py.
"""

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import experiment

TASK_FLAGS = ('resolution', 'episode_frames', 'move_speed', 'turn_degrees',
              'fov', 'apples', 'apple_reward')


def define_flags(fv):
  """Defines this launcher's flags on `fv` (launch/sweep.py reuses it)."""
  in_task = common.group('task', fv)
  config = environments.MazeConfig()
  flags.DEFINE_string('maze_file', None, 'Text map of the maze (default: the '
                      'built-in I-maze, environments.maze.I_MAZE).',
                      **in_task)
  flags.DEFINE_integer('resolution', config.resolution,
                       'Side of the rendered view in pixels (84: the paper).',
                       **in_task)
  flags.DEFINE_integer('episode_frames', config.episode_frames,
                       'Primitive steps per episode (fixed duration).',
                       **in_task)
  flags.DEFINE_float('move_speed', config.move_speed,
                     'Cells moved per primitive step.', **in_task)
  flags.DEFINE_float('turn_degrees', config.turn_degrees,
                     'Degrees turned per primitive step.', **in_task)
  flags.DEFINE_float('fov', config.fov, 'Field of view in degrees.',
                     **in_task)
  flags.DEFINE_boolean('apples', config.apples, "Put the map's 'A' apples in "
                       '(reward --apple_reward each; off in the paper).',
                       **in_task)
  flags.DEFINE_float('apple_reward', config.apple_reward,
                     'Reward of an apple.', **in_task)
  common.define_training_flags(fv, num_units=256, batch_size=32,
                               gamma=0.99, beta_e=0.001,
                               beta_v=0.5, learning_rate=5e-4,
                               total_steps=20_000_000, action_repeat=4)


def make_task(fv):
  """The task of the flags in `fv`; a bad --maze_file raises OSError or
  ValueError."""
  kwargs = {k: fv[k].value for k in TASK_FLAGS}
  if fv.maze_file:
    kwargs['maze'] = environments.maze.load_maze(fv.maze_file).text
  return experiment.TaskConfig('imaze', kwargs)


def main(argv):
  common.no_arguments(argv)
  common.train(make_task)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main, flags_parser=common.parse_flags)
