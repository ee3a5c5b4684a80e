"""Classic bandit algorithms as batched NumPy policies (Section 3.1 baselines).

Every policy follows the evaluation protocol of `meta_rl.evaluation`:

    state = policy.initial_state(batch_size)
    action, state = policy.step(inputs, state, rng)

where `inputs` holds `prev_action` int32 [B] (-1 on the first trial),
`prev_reward` float32 [B] and the task's observation keys, and `rng` is a
`numpy.random.Generator`. State is a dict of arrays: success and failure counts
per arm, updated from the previous action and reward (Beta(1, 1) priors).
"""

from typing import Dict

import numpy as np


class CountingPolicy:
  """Base: keeps per-arm success/failure counts of Bernoulli rewards."""

  name = 'counting'

  def __init__(self, num_actions: int = 2):
    self.num_actions = num_actions

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    z = np.zeros((batch_size, self.num_actions), np.float64)
    return {'successes': z, 'failures': z.copy()}

  def step(self, inputs, state, rng):
    a = np.asarray(inputs['prev_action'])
    r = np.asarray(inputs['prev_reward'], np.float64)
    s, f = state['successes'].copy(), state['failures'].copy()
    rows = np.nonzero(a >= 0)[0]
    s[rows, a[rows]] += r[rows]
    f[rows, a[rows]] += 1.0 - r[rows]
    state = {'successes': s, 'failures': f}
    return self.choose(s, f, rng).astype(np.int32), state

  def choose(self, s, f, rng):
    raise NotImplementedError


def _argmax_random_ties(x, rng):
  noise = rng.random(x.shape) * 1e-9
  return np.argmax(x + noise * (x == x.max(axis=-1, keepdims=True)), axis=-1)


class RandomPolicy(CountingPolicy):
  """Uniformly random arm (chance)."""
  name = 'random'

  def choose(self, s, f, rng):
    return rng.integers(0, self.num_actions, size=s.shape[0])


class ThompsonSampling(CountingPolicy):
  """Thompson (1933): sample p_a ~ Beta(1 + s_a, 1 + f_a), pull the argmax."""
  name = 'thompson'

  def choose(self, s, f, rng):
    return np.argmax(rng.beta(1.0 + s, 1.0 + f), axis=-1)


class UCB1(CountingPolicy):
  """UCB1 (Auer et al. 2002): untried arms first, then the argmax of
  mean_a + sqrt(2 ln n / n_a)."""
  name = 'ucb1'

  def choose(self, s, f, rng):
    n_a = s + f
    n = n_a.sum(axis=-1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
      index = s / n_a + np.sqrt(2.0 * np.log(np.maximum(n, 1.0)) / n_a)
    index = np.where(n_a == 0, np.inf, index)
    return _argmax_random_ties(index, rng)


BASELINES = {p.name: p for p in (ThompsonSampling, UCB1, RandomPolicy)}


def make_baseline(name: str, core) -> CountingPolicy:
  """The baseline `name` set up for the task of a batched `core`."""
  if name not in BASELINES:
    raise ValueError(f'unknown baseline {name!r}; choose one of '
                     f'{", ".join(BASELINES)}')
  return BASELINES[name](core.num_actions)
