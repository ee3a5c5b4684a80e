"""Throughput and memory of learning from pixels: the conv encoder of Figure 1
with an LSTM core, on the synthetic cue bandit (`environments/testing.py`,
84x84x3) or on Harlow's task (--task=harlow, --resolution), rendered in the
graph.

  python benchmarks/pixels.py [--task=cue|harlow] [--resolution=84]
      [--batch_size=32] [--unroll_length=100] [--action_repeat=4]
      [--core=lstm|stacked_lstm] [--seconds=20] [--xla]

Prints agent decisions/s, primitive frames/s (decisions x action repeat) and
the process's peak resident memory (ru_maxrss) after the measured updates,
which covers the whole unroll: K*B frames, the per-step network state kept
for the gradient, and the encoder run once on all K*B frames.
"""

import argparse
import os
import resource
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

import environments
from environments.testing import CueBandit
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import A2CConfig, InGraphTrainer, TrainConfig


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--task', choices=['cue', 'harlow'], default='cue')
  parser.add_argument('--resolution', type=int, default=84)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--unroll_length', type=int, default=100)
  parser.add_argument('--action_repeat', type=int, default=4)
  parser.add_argument('--core', default='lstm')
  parser.add_argument('--num_units', type=int, default=256)
  parser.add_argument('--seconds', type=float, default=20.0)
  parser.add_argument('--xla', action='store_true')
  args = parser.parse_args()
  size = args.resolution
  if args.task == 'cue':
    core = CueBandit(num_trials=100 * args.action_repeat, size=size)
  else:
    core = environments.make_core('harlow', resolution=size)
  if args.action_repeat > 1:
    core = environments.ActionRepeat(core, args.action_repeat)
  agent = make_agent(core.observation_spec(), core.num_actions,
                     AgentConfig(core=args.core, num_units=args.num_units,
                                 stacked_units=(args.num_units, 64)))
  trainer = InGraphTrainer(core, agent, A2CConfig(), TrainConfig(
      batch_size=args.batch_size, unroll_length=args.unroll_length,
      jit_compile=args.xla))
  print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; {args.task}, '
        f'conv encoder + {args.core}-{args.num_units}, {size}x{size}x3, '
        f'B={args.batch_size}, '
        f'K={args.unroll_length}, action repeat {args.action_repeat}'
        + (', XLA' if args.xla else ''))
  t0 = time.perf_counter()
  trainer.train_step()
  print(f'first update (trace + compile): {time.perf_counter() - t0:.1f} s')
  steps, frames = trainer.env_steps, trainer.frames
  t0, n = time.perf_counter(), 0
  while n < 2 or time.perf_counter() - t0 < args.seconds:
    trainer.train_step()
    n += 1
  elapsed = time.perf_counter() - t0
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f'{(trainer.env_steps - steps) / elapsed:,.0f} decisions/s  '
        f'{(trainer.frames - frames) / elapsed:,.0f} frames/s  '
        f'({n} updates in {elapsed:.1f} s)')
  frames_bytes = args.batch_size * args.unroll_length * size * size * 3
  print(f'peak resident memory {peak:,.0f} MB '
        f'(one unroll of uint8 frames: {frames_bytes / 2**20:,.0f} MB)')


if __name__ == '__main__':
  main()
