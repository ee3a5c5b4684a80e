"""Steps per second of the batched Gymnasium VectorEnv
(`environments.gym_vector`) against the single-env Gymnasium face
(`environments.gym_adapter`), in one sitting: random actions, NumPy in and
out, autoreset included.

  python benchmarks/vector_env.py [--seconds=5] [--rows=bandit,two_step]
      [--xla]

Rows (issue 28's targets): the independent bandit at 1024 envs, the two-step
task at 256, Harlow 42x42 at 64, the I-maze 42x42 with action repeat 4 at 64.
Each row prints the vector env's agent steps (decisions) per second, the
single-env face's, and their ratio. Measure ratios within one run: the
machine is shared and noisy.
"""

import argparse
import os
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top

import environments.gym_adapter  # pylint: disable=g-import-not-at-top,unused-import
from environments import gym_vector  # pylint: disable=g-import-not-at-top

ROWS = {
    # name: (task, num_envs, task kwargs, target decisions/s)
    'bandit': ('independent', 1024, {}, 1_000_000),
    'two_step': ('two_step', 256, {}, 200_000),
    'harlow': ('harlow', 64, {'resolution': 42, 'action_repeat': 1,
                              'turn_degrees': 4.4, 'momentum': 0.0,
                              'fixation_hold': 1, 'intertrial_interval': 3,
                              'max_steps': 900}, 20_000),
    'imaze': ('imaze', 64, {'resolution': 42, 'action_repeat': 4}, 5_000),
}


def _rate(step, num_envs, seconds):
  """Median decisions/s over three windows of `seconds / 3`, after a warm-up
  step (compilation)."""
  step()
  rates = []
  for _ in range(3):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 3:
      step()
      n += 1
    rates.append(n * num_envs / (time.perf_counter() - start))
  return float(np.median(rates))


def vector_rate(task, num_envs, kwargs, seconds, xla):
  envs = gym_vector.TaskVectorEnv(task, num_envs, jit_compile=xla, **kwargs)
  envs.reset(seed=0)
  rng = np.random.default_rng(0)
  n = envs.single_action_space.n

  def step():
    envs.step(rng.integers(n, size=num_envs))

  return _rate(step, num_envs, seconds)


def single_rate(task, kwargs, seconds):
  env = environments.gym_adapter.TaskEnv(task, **kwargs)
  env.reset(seed=0)
  rng = np.random.default_rng(0)
  n = env.action_space.n

  def step():
    _, _, terminated, truncated, _ = env.step(int(rng.integers(n)))
    if terminated or truncated:
      env.reset()

  return _rate(step, 1, seconds)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seconds', type=float, default=5.0)
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--xla', action='store_true',
                      help='also the vector env compiled with XLA')
  args = parser.parse_args()
  rows = [r for r in args.rows.split(',') if r]
  unknown = sorted(set(rows) - set(ROWS))
  if unknown:
    parser.error(f'unknown rows {unknown}; known: {sorted(ROWS)}')
  print(f'{"row":<10} {"num_envs":>8} {"vector/s":>12} {"XLA/s":>12} '
        f'{"single/s":>9} {"ratio":>7} {"target":>9}')
  for name in rows:
    task, num_envs, kwargs, target = ROWS[name]
    vec = vector_rate(task, num_envs, kwargs, args.seconds, False)
    xla = (vector_rate(task, num_envs, kwargs, args.seconds, True)
           if args.xla else float('nan'))
    one = single_rate(task, kwargs, args.seconds)
    best = np.nanmax([vec, xla])
    print(f'{name:<10} {num_envs:>8} {vec:>12,.0f} {xla:>12,.0f} '
          f'{one:>9,.0f} {best / one:>7.0f} {target:>9,}', flush=True)


if __name__ == '__main__':
  main()
