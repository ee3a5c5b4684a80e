"""Throughput and memory of learning from pixels: the conv encoder of Figure 1
with an LSTM core, on the synthetic cue bandit (`environments/testing.py`,
84x84x3) or on Harlow's task (--task=harlow, --resolution), rendered in the
graph.

  python benchmarks/pixels.py [--task=cue|harlow] [--resolution=84]
      [--batch_size=32] [--unroll_length=100] [--action_repeat=4]
      [--core=lstm|stacked_lstm] [--seconds=20] [--xla] [--jit_env]
      [--breakdown]

Prints agent decisions/s, primitive frames/s (decisions x action repeat) and
the process's peak resident memory (ru_maxrss) after the measured updates,
which covers the whole unroll: K*B frames, the per-step network state kept
for the gradient, and the encoder run once on all K*B frames.

--breakdown also times, alternately with the update, two compiled loops of
the same K steps on the same batch: the task alone (random actions, every
frame rendered and kept as the update keeps it) and acting (the task plus
the agent's forward step and the action draw, no gradient); the update
minus acting is the learning (the taped backward pass, the encoder run on
all K*B frames and the optimizer). It prints each as a share of the update.
"""

import argparse
import os
import resource
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # pylint: disable=g-import-not-at-top

import environments
from environments import core as core_lib
from environments.testing import CueBandit
from meta_rl.agent import AgentConfig, make_agent, sample_action
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
  parser.add_argument('--jit_env', action='store_true',
                      help='XLA for the task step only (harlow.cfg)')
  parser.add_argument('--breakdown', action='store_true',
                      help='where the update spends its time')
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
      jit_compile=args.xla, jit_env=args.jit_env))
  print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; {args.task}, '
        f'conv encoder + {args.core}-{args.num_units}, {size}x{size}x3, '
        f'B={args.batch_size}, '
        f'K={args.unroll_length}, action repeat {args.action_repeat}'
        + (', XLA' if args.xla else '') + (', XLA task step' if args.jit_env
                                             else ''))
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
  if args.breakdown:
    breakdown(trainer, args.seconds)


def _loop(trainer, act: bool):
  """A compiled loop of K steps from the trainer's carried batch: the task
  with random actions (act=False) or with the agent's actions (True); every
  observation is kept in a TensorArray, as the update keeps them."""
  core, agent = trainer.core, trainer.agent
  k, b = trainer.config.unroll_length, trainer.config.batch_size
  env_step = trainer._env_step  # pylint: disable=protected-access
  carry = trainer._carry  # pylint: disable=protected-access

  @tf.function
  def run(key):
    state = tf.nest.map_structure(lambda v: v.read_value(), carry['env_state'])
    obs = {n: v.read_value() for n, v in carry['observation'].items()}
    agent_state = tf.nest.map_structure(lambda v: v.read_value(),
                                        carry['agent_state'])
    prev_action = carry['prev_action'].read_value()
    prev_reward = carry['prev_reward'].read_value()
    kept = {n: tf.TensorArray(x.dtype, size=k) for n, x in obs.items()}
    for t in tf.range(k):
      kept = {n: ta.write(t, obs[n]) for n, ta in kept.items()}
      step_key = core_lib.fold_in(key, t)
      if act:
        inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
        out, agent_state = agent.core_step(
            agent.encode(inputs), prev_action, prev_reward, agent_state)
        action = sample_action(out.logits, step_key)
      else:
        action = tf.random.stateless_uniform([b], step_key, 0,
                                             core.num_actions, tf.int32)
      state, step = env_step(step_key, state, action)
      obs, prev_action, prev_reward = step.observation, action, step.reward
    return {n: ta.stack() for n, ta in kept.items()}

  return run


def breakdown(trainer, seconds):
  """Times the task alone, acting and the whole update, alternately (so
  that load from other processes hits all three alike), best of rounds."""
  loops = {'task': _loop(trainer, False), 'acting': _loop(trainer, True)}
  key = core_lib.make_key(0)
  for loop in loops.values():
    loop(key)  # compile
  best = {'task': float('inf'), 'acting': float('inf'),
          'update': float('inf')}
  t_end = time.perf_counter() + 3 * seconds
  while time.perf_counter() < t_end or min(best.values()) == float('inf'):
    for name, loop in loops.items():
      t0 = time.perf_counter()
      tf.nest.map_structure(lambda x: x.numpy(), loop(key))
      best[name] = min(best[name], time.perf_counter() - t0)
    t0 = time.perf_counter()
    trainer.train_step()
    best['update'] = min(best['update'], time.perf_counter() - t0)
  update = best['update']
  parts = [('task (render and dynamics)', best['task']),
           ('agent forward and action draw', best['acting'] - best['task']),
           ('learning (backward, encoder on K*B frames, optimizer)',
            update - best['acting'])]
  print(f'breakdown of one update ({update * 1e3:,.0f} ms, best of rounds):')
  for name, t in parts:
    print(f'  {name:55s} {t * 1e3:8,.0f} ms  {100 * t / update:5.1f}%')


if __name__ == '__main__':
  main()
