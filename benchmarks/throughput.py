"""Training throughput (env steps/s) of the in-graph trainer and the Python
dm_env driver on the same agent (LSTM-48, bandit task, unroll 100), of the
in-graph trainer on the two-step task (unroll 20, Exp 5), and on Harlow's task
(Exp 6): its renderer alone (frames/s, B=32) and the training step (agent
decisions/s and primitive frames/s, B=32, unroll 100, action repeat 4) of the
Conv-LSTM (256) and the stacked LSTM (256/64), at 84x84 and at 42x42 (the CPU
config's resolution).

  python benchmarks/throughput.py [--seconds=10] [--xla] [--sections=harlow]

Prints one line per configuration and the in-graph / Python-driver ratio.
Measure ratios within one run: the machine is shared and noisy.
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import dm_env  # pylint: disable=g-import-not-at-top
from dm_env import specs
import numpy as np
import tensorflow as tf

import environments
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import A2CConfig, InGraphTrainer, PythonEnvTrainer, TrainConfig


class NumpyBandit(dm_env.Environment):
  """The independent bandit in plain NumPy: the cheapest possible Python env,
  to separate the driver's own cost from the environment's."""

  def __init__(self, seed, num_trials=100):
    self._rng = np.random.default_rng(seed)
    self._n = num_trials

  def reset(self):
    self._p, self._t = self._rng.random(2), 0
    return dm_env.restart({'episode_step': np.int32(0)})

  def step(self, action):
    self._t += 1
    r = np.float32(self._rng.random() < self._p[action])
    obs = {'episode_step': np.int32(min(self._t, self._n - 1))}
    return dm_env.termination(r, obs) if self._t >= self._n else \
        dm_env.transition(r, obs)

  def observation_spec(self):
    return {'episode_step': specs.BoundedArray((), np.int32, 0, self._n - 1,
                                               name='episode_step')}

  def action_spec(self):
    return specs.DiscreteArray(2, name='action')


def measure(trainer, seconds, min_updates=2, frames=False):
  """Median env steps/s over three windows (and primitive frames/s, with
  `frames`)."""
  trainer.train_step()  # compile
  trainer.train_step()
  rates, frame_rates = [], []
  for _ in range(3):
    t0, n, f0 = time.perf_counter(), 0, trainer.frames
    while n < min_updates or time.perf_counter() - t0 < seconds / 3:
      trainer.train_step()
      n += 1
    elapsed = time.perf_counter() - t0
    rates.append(n * trainer.env_steps_per_update / elapsed)
    frame_rates.append((trainer.frames - f0) / elapsed)
  if frames:
    return float(np.median(rates)), float(np.median(frame_rates))
  return float(np.median(rates))


def render_rate(core, batch_size, seconds, vary, xla=False):
  """Frames/s of a core's renderer alone (`observe`); `vary(state)` changes
  the state between frames (e.g. Harlow's gaze and phase)."""
  state, _ = core.reset(environments.core.make_key(0), batch_size)

  observe = tf.function(core.observe, jit_compile=xla)

  @tf.function
  def render(state, n):
    total = tf.constant(0, tf.int32)
    for _ in tf.range(n):
      state = vary(state)
      total += tf.cast(observe(state)['pixels'][0, 0, 0, 0], tf.int32)
    return total

  render(state, 10)  # trace
  t0 = time.perf_counter()
  render(state, 200)
  # Windows of about seconds / 3 each.
  n = max(200, int(200 * seconds / 3 / (time.perf_counter() - t0)))
  rates = []
  for _ in range(3):
    t0 = time.perf_counter()
    render(state, n)
    rates.append(n * batch_size / (time.perf_counter() - t0))
  return float(np.median(rates))


def harlow_rows(seconds, xla):
  """Harlow's renderer and training step, both agents, 84 and 42 px."""
  print("Harlow's task (Exp 6): B=32, unroll 100, action repeat 4")
  for resolution in (84, 42):
    task = environments.make_core('harlow', resolution=resolution)
    rate = render_rate(task, 32, seconds, lambda s: s._replace(
        gaze=s.gaze + 0.7, phase=(s.phase + 1) % 3))
    print(f'{f"render {resolution}x{resolution} B=32":<28} {rate:>12,.0f} '
          'frames/s', flush=True)
    core = environments.make_core('harlow', action_repeat=4,
                                  resolution=resolution)
    for config, jit_env in (
        (AgentConfig(core='lstm', num_units=256), False),
        (AgentConfig(core='lstm', num_units=256), True),
        (AgentConfig(core='stacked_lstm', stacked_units=(256, 64)), False)):
      agent = make_agent(core.observation_spec(), core.num_actions, config)
      trainer = InGraphTrainer(core, agent, A2CConfig(max_grad_norm=40.0),
                               TrainConfig(batch_size=32, unroll_length=100,
                                           jit_compile=xla, jit_env=jit_env))
      steps, frames = measure(trainer, seconds, frames=True)
      name = (f'{config.core} {resolution}x{resolution}' +
              (' XLA' if xla else '') + (' jit_env' if jit_env else ''))
      print(f'{name:<28} {steps:>12,.0f} decisions/s {frames:>10,.0f} '
            'frames/s', flush=True)


def navigation_rows(seconds, xla):
  """The I-maze's ray-cast renderer and training step, both agents."""
  print('I-maze navigation (Exp 7): B=32, unroll 100, action repeat 4')

  def vary(s):  # turn and walk along the central corridor
    y = 4.5 + tf.math.floormod(s.position[:, 1] + 0.37 - 4.5, 4.0)
    return s._replace(heading=s.heading + 0.3,
                      position=tf.stack([s.position[:, 0], y], -1))

  for resolution in (84, 42, 32):
    task = environments.make_core('imaze', resolution=resolution)
    for jit in (False, True):
      rate = render_rate(task, 32, seconds, vary, xla=jit)
      name = f'ray cast {resolution}x{resolution} B=32' + (' XLA' if jit
                                                          else '')
      print(f'{name:<28} {rate:>12,.0f} frames/s', flush=True)
  for resolution in (84, 42, 32):
    core = environments.make_core('imaze', action_repeat=4,
                                  resolution=resolution)
    for config in (AgentConfig(core='stacked_lstm', stacked_units=(256, 64)),
                   AgentConfig(core='feedforward', num_units=256)):
      agent = make_agent(core.observation_spec(), core.num_actions, config)
      trainer = InGraphTrainer(core, agent, A2CConfig(max_grad_norm=40.0),
                               TrainConfig(batch_size=32, unroll_length=100,
                                           jit_compile=xla, jit_env=True))
      steps, frames = measure(trainer, seconds, frames=True)
      name = f'{config.core} {resolution}x{resolution} jit_env'
      print(f'{name:<28} {steps:>12,.0f} decisions/s {frames:>10,.0f} '
            'frames/s', flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seconds', type=float, default=10.0,
                      help='time per in-graph configuration')
  parser.add_argument('--xla', action='store_true',
                      help='also measure jit_compile=True')
  parser.add_argument('--sections', default='bandits,harlow,navigation',
                      help='comma-separated: bandits (bandits, two-step and '
                      'the Python driver), harlow, navigation')
  args = parser.parse_args()
  sections = args.sections.split(',')
  if 'harlow' in sections:
    harlow_rows(args.seconds, xla=False)
  if 'navigation' in sections:
    navigation_rows(args.seconds, xla=False)
  if 'bandits' not in sections:
    return
  core = environments.make_core('independent')
  spec = core.observation_spec()
  print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; LSTM-48, '
        'unroll 100, independent bandit')
  results = {}
  for xla in ([False, True] if args.xla else [False]):
    for b in (32, 128, 256):
      trainer = InGraphTrainer(core, make_agent(spec, 2), A2CConfig(),
                               TrainConfig(batch_size=b, jit_compile=xla))
      name = f'in-graph B={b}' + (' XLA' if xla else '')
      results[name] = measure(trainer, args.seconds)
      print(f'{name:<28} {results[name]:>12,.0f} env steps/s', flush=True)
  two_step = environments.make_core('two_step')
  for xla in ([False, True] if args.xla else [False]):
    trainer = InGraphTrainer(two_step, make_agent(two_step.observation_spec(), 2),
                             A2CConfig(), TrainConfig(batch_size=128,
                                                      unroll_length=20,
                                                      jit_compile=xla))
    name = 'two-step in-graph B=128' + (' XLA' if xla else '')
    results[name] = measure(trainer, args.seconds)
    print(f'{name:<28} {results[name]:>12,.0f} env steps/s', flush=True)
  for label, make_env in [('dm_env face (TF core)', lambda i: environments.make_environment('independent', seed=i)),
                          ('NumPy dm_env', NumpyBandit)]:
    b = 32
    trainer = PythonEnvTrainer([make_env(i) for i in range(b)],
                               make_agent(spec, 2), A2CConfig(),
                               TrainConfig(batch_size=b))
    name = f'Python driver B={b}, {label}'
    results[name] = measure(trainer, 0.0, min_updates=1)
    print(f'{name:<28} {results[name]:>12,.0f} env steps/s', flush=True)
  best = results['in-graph B=256']
  for name, rate in results.items():
    if name.startswith('Python'):
      print(f'in-graph B=256 / {name}: {best / rate:,.0f}x')


if __name__ == '__main__':
  main()
