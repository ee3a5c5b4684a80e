"""A learner outside this project's trainer, on the batched Gymnasium
VectorEnv, with NumPy only: UCB1 (Auer et al. 2002) playing 1024 independent
two-armed bandits at once (Exp 1's task, 100 pulls per episode), next to a
random policy, scored by the expected regret the environment reports in
`info['metrics']`.

The learner sees only what an RL^2 / "Learning to Reinforcement Learn"
agent sees: the observation with the previous action and reward added by
`PreviousActionReward` (0 at an episode's first step), from which it keeps
its own counts, reset where an episode starts.

  python docs/examples/vector_ucb_bandits.py [--num_envs=1024] [--episodes=3]
"""

import argparse
import time

import gymnasium
import numpy as np

import environments.gym_adapter  # pylint: disable=unused-import  (registers the ids)
from environments.gym_vector import PreviousActionReward


def play(envs, policy, episodes, seed):
  """Mean cumulative expected regret per episode of `policy(obs, state)`."""
  obs, _ = envs.reset(seed=seed)
  n, arms = envs.num_envs, envs.single_action_space.n
  counts, sums = np.zeros((n, arms)), np.zeros((n, arms))
  regret, finished, ended = np.zeros(n), [], np.zeros(n, bool)
  rng = np.random.default_rng(seed)
  while len(finished) < episodes:
    first = obs['episode_step'] == 0  # a new episode: forget the last task
    counts[first], sums[first] = 0.0, 0.0
    stepped = ~first
    a = obs['prev_action']
    counts[stepped, a[stepped]] += 1
    sums[stepped, a[stepped]] += obs['prev_reward'][stepped]
    actions = policy(counts, sums, rng)
    obs, _, terminated, truncated, info = envs.step(actions)
    regret += np.where(info['_metrics'], info['metrics']['regret'], 0.0)
    ended = terminated | truncated
    if ended.all():  # every episode has the same length here
      finished.append(regret.mean())
      regret[:] = 0.0
      obs, *_ = envs.step(actions)  # the NEXT_STEP autoreset step
  return float(np.mean(finished))


def ucb1(counts, sums, rng):
  """Each arm once, then the highest mean + sqrt(2 ln t / n)."""
  del rng
  untried = counts == 0
  t = counts.sum(1, keepdims=True)
  score = sums / np.maximum(counts, 1) + np.sqrt(
      2 * np.log(np.maximum(t, 1)) / np.maximum(counts, 1))
  score[untried] = np.inf
  return score.argmax(1)


def random_policy(counts, sums, rng):
  del sums
  return rng.integers(counts.shape[1], size=counts.shape[0])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--num_envs', type=int, default=1024)
  parser.add_argument('--episodes', type=int, default=3)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  envs = PreviousActionReward(gymnasium.make_vec(
      'meta_rl/IndependentBandit-v0', num_envs=args.num_envs,
      vectorization_mode='vector_entry_point', num_trials=100))
  for name, policy in (('random', random_policy), ('ucb1', ucb1)):
    start = time.perf_counter()
    regret = play(envs, policy, args.episodes, args.seed)
    steps = args.episodes * 101 * args.num_envs
    print(f'{name:<7} expected regret per episode {regret:6.2f} '
          f'({args.episodes} x {args.num_envs} episodes, '
          f'{steps / (time.perf_counter() - start):,.0f} steps/s)', flush=True)


if __name__ == '__main__':
  main()
