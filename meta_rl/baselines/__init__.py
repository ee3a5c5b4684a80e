"""Reference policies of Wang et al. (2016) as batched NumPy policies.

Every baseline follows one protocol, the one `meta_rl.evaluation` plays:

    state = policy.initial_state(batch_size)
    action, state = policy.step(inputs, state, rng)

`inputs` holds `prev_action` int32 [B] (-1 on the first trial),
`prev_reward` float32 [B] and the task's observation keys; `rng` is a
`numpy.random.Generator` (a policy owns no randomness of its own); `action` is
int32 [B]; state is a dict of arrays with leading dimension B.

The baselines by name (`BASELINES`):

  bayes_optimal   exact Bayes-optimal finite-horizon policy of the two-armed
                  Bernoulli bandit (dynamic programming over posterior counts)
                  for the independent and the four dependent distributions of
                  Sections 3.1.1-3.1.2; on the informative bandit (3.1.3) the
                  optimal "informative arm, then target" policy.
  gittins         Gittins indices of Beta-Bernoulli arms (calibration method).
  thompson        Thompson sampling on Beta(1, 1) posteriors (on the informative
                  bandit: Thompson with the true prior, `thompson_informative`).
  ucb1, ucb       UCB index mean + sqrt(chi ln n / n_a): chi = 2 (Auer et al.
                  2002), chi = 1 (the paper's setting, Section 3.1.4).
  rw_0.2, rw_0.8  Rescorla-Wagner learners with softmax choice (3.1.4).
  thompson_informative, optimal_informative
                  Thompson with the true prior of the 11-armed bandit, and the
                  Bayes-optimal policy (3.1.3).
  thompson_restless
                  Thompson with a grid posterior that knows the reflecting
                  Gaussian random walk of p1 (fixed volatility, 3.1.4).
  model_free, model_based
                  learners of the two-step task (Daw et al. 2011; 3.2.1) with
                  the parameters that earn the most reward (alpha 0.3,
                  beta 50).
  model_free_canonical
                  the model-free learner at a moderate inverse temperature
                  (alpha 0.5, beta 5): the canonical model-free prediction
                  of Fig 5b (rewards raise staying whatever the transition).
  ideal           scripted player of Harlow's task that reads the gaze's
                  ground truth: fixates, picks at random on trial 1, then
                  win-stay/lose-shift on the image (3.2.2).
  random          uniformly random arm (chance).

Modules by task family: `common` (protocol helpers, `sample_action`, random,
UCB, Rescorla-Wagner), `bernoulli` (Exps 1-2), `informative` (Exp 3),
`restless` (Exp 4), `two_step` (Exp 5), `harlow` (Exp 6).

A policy whose `uses_task_info` is True (`ideal`) also receives the task's
ground truth before the step under `inputs['task_info']`.

`display_name(name)` is the name figures show for a policy (the paper's:
'Thompson sampling', 'R-W (α=0.2)', 'LSTM A2C' for the agent).

`make_baseline(name, core, **options)` builds the baseline `name` for the task
of a batched core. `OPTIONS` maps the option names it accepts to their
defaults, which are also the defaults of the classes: `gittins_discount`
(`GITTINS_DISCOUNT`), `restless_volatility` (`RESTLESS_VOLATILITY`), `rw_beta`
(`RW_BETA`).
"""

import functools
import types
from typing import Any, Callable, Dict, Mapping

from environments import bandits as bandits_lib
from environments import core as environments_core
from environments import harlow as harlow_lib
from environments import informative_bandit as informative_lib
from meta_rl.baselines.bernoulli import (
    GITTINS_DISCOUNT, BayesOptimal, Gittins, ThompsonSampling,
    bayes_optimal_regret, bayes_optimal_value, dependent_bayes_tables,
    dependent_posterior_mean, gittins_index, gittins_table,
    independent_bayes_tables)
from meta_rl.baselines.common import (
    RW_BETA, UCB, UCB1, CountingPolicy, RandomPolicy, RescorlaWagner,
    sample_action)
from meta_rl.baselines.harlow import IdealHarlow
from meta_rl.baselines.informative import OptimalInformative, ThompsonInformative
from meta_rl.baselines.restless import (
    RESTLESS_VOLATILITY, ThompsonRestless, reflected_walk_kernel)
from meta_rl.baselines.two_step import (
    CANONICAL_ALPHA, CANONICAL_BETA, TwoStepLearner)

# The options `make_baseline` accepts, and their defaults.
OPTIONS: Mapping[str, float] = types.MappingProxyType({
    'gittins_discount': GITTINS_DISCOUNT,
    'restless_volatility': RESTLESS_VOLATILITY,
    'rw_beta': RW_BETA,
})


def _is_informative(core) -> bool:
  return isinstance(core, informative_lib.InformativeBandit)


def _informative(cls, core, options):
  del options  # Unused.
  return cls(core.num_arms)


def _bayes_optimal(core, options):
  if _is_informative(core):
    return _informative(OptimalInformative, core, options)
  if not isinstance(core, bandits_lib.BernoulliBandit):
    raise ValueError(f'bayes_optimal is defined for the two-armed Bernoulli '
                     f'bandits and the informative bandit, not {core.name}')
  return BayesOptimal(core.distribution, core.num_trials)


def _thompson(core, options):
  # Beta posteriors need Bernoulli rewards; on the informative bandit the
  # paper's Thompson has the true prior (Section 3.1.3).
  if _is_informative(core):
    return _informative(ThompsonInformative, core, options)
  return ThompsonSampling(core.num_actions)


def _gittins(core, options):
  if _is_informative(core):
    raise ValueError('gittins needs Bernoulli rewards')
  return Gittins(core.num_actions, core.episode_length,
                 options['gittins_discount'])


def _rescorla_wagner(alpha, core, options):
  return RescorlaWagner(core.num_actions, alpha=alpha, beta=options['rw_beta'])


def _two_step(model_based, core, options, **params):
  del options  # Unused.
  if not hasattr(core, 'common_prob') or 'state' not in core.observation_spec():
    raise ValueError(f'{"model_based" if model_based else "model_free"} is a '
                     f'two-step task learner, not for {core.name}')
  return TwoStepLearner(model_based, common_prob=core.common_prob, **params)


def _thompson_restless(core, options):
  # `restless_volatility` is nu in the task's reading: the variance of the
  # walk's step, or its standard deviation (`volatility_scale='std'`).
  nu = options['restless_volatility']
  scale = getattr(environments_core.unwrap(core), 'volatility_scale',
                  'variance')
  return ThompsonRestless(nu**2 if scale == 'std' else nu)


def _ideal(core, options):
  del options  # Unused.
  task = environments_core.unwrap(core)
  if not isinstance(task, harlow_lib.HarlowTask):
    raise ValueError(f'ideal is a player of Harlow\'s task, not of {core.name}')
  return IdealHarlow(task.config, getattr(core, 'repeat', 1))


# name -> builder(core, options): the policy for the task of a batched core;
# `options` holds every name of `OPTIONS`.
BASELINES: Dict[str, Callable[[Any, Mapping[str, float]], Any]] = {
    'bayes_optimal': _bayes_optimal,
    'gittins': _gittins,
    'thompson': _thompson,
    'ucb1': lambda core, options: UCB1(core.num_actions),
    'ucb': lambda core, options: UCB(core.num_actions, chi=1.0),
    'rw_0.2': functools.partial(_rescorla_wagner, 0.2),
    'rw_0.8': functools.partial(_rescorla_wagner, 0.8),
    'random': lambda core, options: RandomPolicy(core.num_actions),
    'thompson_informative': functools.partial(_informative, ThompsonInformative),
    'optimal_informative': functools.partial(_informative, OptimalInformative),
    'thompson_restless': _thompson_restless,
    'model_free': functools.partial(_two_step, False),
    'model_based': functools.partial(_two_step, True),
    'model_free_canonical': functools.partial(
        _two_step, False, alpha=CANONICAL_ALPHA, beta=CANONICAL_BETA,
        name='model_free_canonical'),
    'ideal': _ideal,
}

# The names figures show: the paper's where it names the policy.
DISPLAY_NAMES: Mapping[str, str] = types.MappingProxyType({
    'agent': 'LSTM A2C',
    'agent_no_reward_input': 'LSTM A2C, no reward input',
    'bayes_optimal': 'Bayes-optimal',
    'gittins': 'Gittins indices',
    'thompson': 'Thompson sampling',
    'thompson_informative': 'Thompson sampling',
    'thompson_restless': 'Thompson sampling',
    'optimal_informative': 'optimal',
    'ucb1': 'UCB1',
    'ucb': 'UCB',
    'rw_0.2': 'R-W (α=0.2)',
    'rw_0.8': 'R-W (α=0.8)',
    'model_based': 'model-based (reward-maximising)',
    'model_free': 'model-free (reward-maximising)',
    'model_free_canonical': 'model-free prediction (canonical)',
    'ideal': 'ideal player',
    'random': 'random',
})


def display_name(name: str) -> str:
  """The name figures show for the policy `name` (`DISPLAY_NAMES`; other
  names as they are)."""
  return DISPLAY_NAMES.get(name, name)

# Baselines that decide per agent decision, so fit tasks under action repeat.
DECISION_LEVEL = ('random', 'ideal')


def make_baseline(name: str, core, **options):
  """The baseline `name` set up for the task of a batched `core`.

  Args:
    name: a key of `BASELINES`.
    core: the batched core of the task (e.g. `environments.make_core(task)`).
    **options: values for names of `OPTIONS`: `gittins_discount`,
      `restless_volatility` (the fixed volatility of `thompson_restless`),
      `rw_beta` (inverse temperature of the Rescorla-Wagner learners). An
      option the baseline does not use is ignored, so a launcher may pass all
      of them to every baseline; missing ones take their defaults.
  Returns:
    The policy.
  Raises:
    ValueError: for an unknown name or option, or a baseline that does not fit
      the task (every baseline but those of `DECISION_LEVEL` reasons about
      single primitive steps, so fits no task under action repeat).
  """
  if name not in BASELINES:
    raise ValueError(f'unknown baseline {name!r}; choose one of '
                     f'{", ".join(BASELINES)}')
  unknown = sorted(set(options) - set(OPTIONS))
  if unknown:
    raise ValueError(f'unknown baseline option {", ".join(map(repr, unknown))}; '
                     f'the options are {", ".join(OPTIONS)}')
  if getattr(core, 'repeat', 1) > 1 and name not in DECISION_LEVEL:
    raise ValueError(f'baseline {name!r} is not defined under action repeat '
                     f'({core.repeat} steps per decision); only '
                     f'{" and ".join(DECISION_LEVEL)} are')
  return BASELINES[name](core, {**OPTIONS, **options})


__all__ = [
    # Registry and options.
    'BASELINES', 'OPTIONS', 'make_baseline',
    'GITTINS_DISCOUNT', 'RESTLESS_VOLATILITY', 'RW_BETA',
    # Protocol helpers and task-agnostic policies.
    'sample_action', 'CountingPolicy', 'RandomPolicy', 'UCB', 'UCB1',
    'RescorlaWagner',
    # Two-armed Bernoulli bandits (Exps 1-2).
    'ThompsonSampling', 'BayesOptimal', 'Gittins', 'independent_bayes_tables',
    'dependent_bayes_tables', 'dependent_posterior_mean', 'bayes_optimal_value',
    'bayes_optimal_regret', 'gittins_index', 'gittins_table',
    # Informative bandit (Exp 3).
    'ThompsonInformative', 'OptimalInformative',
    # Restless bandit (Exp 4).
    'ThompsonRestless', 'reflected_walk_kernel',
    # Two-step task (Exp 5).
    'TwoStepLearner',
    # Harlow's task (Exp 6).
    'IdealHarlow', 'DECISION_LEVEL',
]
