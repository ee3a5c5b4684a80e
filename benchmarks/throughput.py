"""Training throughput (env steps/s) of the in-graph trainer and the Python
dm_env driver on the same agent (LSTM-48, bandit task, unroll 100), and of the
in-graph trainer on the two-step task (unroll 20, Exp 5).

  python benchmarks/throughput.py [--seconds=10] [--xla]

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
from meta_rl.agent import make_agent
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


def measure(trainer, seconds, min_updates=2):
  trainer.train_step()  # compile
  trainer.train_step()
  rates = []
  for _ in range(3):
    t0, n = time.perf_counter(), 0
    while n < min_updates or time.perf_counter() - t0 < seconds / 3:
      trainer.train_step()
      n += 1
    rates.append(n * trainer.env_steps_per_update / (time.perf_counter() - t0))
  return float(np.median(rates))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seconds', type=float, default=10.0,
                      help='time per in-graph configuration')
  parser.add_argument('--xla', action='store_true',
                      help='also measure jit_compile=True')
  args = parser.parse_args()
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
