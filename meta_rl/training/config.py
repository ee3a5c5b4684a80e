"""How to train: `A2CConfig` (the loss and the optimizer), `TrainConfig`
(batch, unroll, length, seeds, compilation), and the optimizer they make.
Each config validates its own values."""

import dataclasses
import math
import numbers
from typing import Optional

import keras



OPTIMIZERS = ('adam', 'rmsprop')
# The range of an adapted beta_e (`A2CConfig.target_entropy`).
BETA_E_MIN, BETA_E_MAX = 1e-5, 1.0


@dataclasses.dataclass(frozen=True)
class A2CConfig:
  """A2C hyperparameters (Table 1).

  Attributes:
    gamma: discount factor.
    beta_v: value loss coefficient.
    beta_e: entropy coefficient at the start of training.
    beta_e_final: if set, beta_e is annealed linearly to this value over
      training (Exps 3-4 anneal 1 -> 0); None keeps it constant.
    learning_rate: initial learning rate.
    learning_rate_final: if set, decayed linearly to this value over training.
    optimizer: 'adam' or 'rmsprop' (see `OPTIMIZERS`).
    rmsprop_rho, rmsprop_epsilon: RMSProp decay and epsilon (A3C: 0.99, 0.1).
    adam_epsilon: Adam epsilon.
    max_grad_norm: global-norm gradient clipping (0 disables).
    target_entropy: if set (nats), beta_e is not scheduled but adapted to
      keep the mean policy entropy of an update near this target, as
      Soft Actor-Critic tunes its temperature (Haarnoja et al. 2018): after
      each update, log(beta_e) += beta_e_lr * (target_entropy - entropy),
      starting from `beta_e` and kept in [BETA_E_MIN, BETA_E_MAX]. A policy
      more random than the target gets less entropy bonus (no drift towards
      uniform once advantages vanish), one less random gets more (no
      premature determinism).
    beta_e_lr: step size of that adaptation (per update, in log space).
    popart_beta: for an agent with PopArt (`AgentConfig.popart`), the step
      size of the running first and second moments of the returns, per
      update (each update's mean over its B x K returns); about 1 /
      popart_beta updates of memory.
  """
  gamma: float = 0.9
  beta_v: float = 0.05
  beta_e: float = 0.05
  beta_e_final: Optional[float] = None
  learning_rate: float = 3e-3
  learning_rate_final: Optional[float] = None
  optimizer: str = 'adam'
  rmsprop_rho: float = 0.99
  rmsprop_epsilon: float = 0.1
  adam_epsilon: float = 1e-7
  max_grad_norm: float = 1.0
  target_entropy: Optional[float] = None
  beta_e_lr: float = 0.02
  popart_beta: float = 3e-3

  def __post_init__(self):
    for name, (low, high, low_open, text) in A2C_RANGES.items():
      value = getattr(self, name)
      if value is None and name in A2C_OPTIONAL:
        continue
      if not in_range(value, low, high, low_open):
        raise ValueError(f'{name} must be {text}, got {value!r}')
    if self.target_entropy is not None:
      if self.beta_e_final is not None:
        raise ValueError('give either target_entropy (adapted beta_e) or '
                         'beta_e_final (scheduled beta_e), not both')
      if not BETA_E_MIN <= self.beta_e <= BETA_E_MAX:
        raise ValueError(f'with target_entropy, beta_e (its start) must be in '
                         f'[{BETA_E_MIN}, {BETA_E_MAX}], got {self.beta_e}')
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f'unknown optimizer {self.optimizer!r}; choose one of '
                       f'{", ".join(OPTIMIZERS)}')


# The valid values of A2CConfig's numbers (the launchers' flags check the
# same): name -> (low, high, low excluded, the range in words).
A2C_RANGES = {
    'gamma': (0, 1, False, 'in [0, 1]'),
    'beta_v': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e_final': (0, math.inf, False, 'a finite number >= 0'),
    'learning_rate': (0, 1, True, 'a finite number in (0, 1]'),
    'learning_rate_final': (0, 1, False, 'a finite number in [0, 1]'),
    'rmsprop_rho': (0, 1, False, 'in [0, 1]'),
    'rmsprop_epsilon': (0, 1, True, 'a finite number in (0, 1]'),
    'adam_epsilon': (0, 1, True, 'a finite number in (0, 1]'),
    'max_grad_norm': (0, math.inf, False, 'a finite number >= 0 (0: off)'),
    'target_entropy': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e_lr': (0, math.inf, True, 'a finite number > 0'),
    'popart_beta': (0, 1, True, 'a finite number in (0, 1]'),
}
A2C_OPTIONAL = ('beta_e_final', 'learning_rate_final', 'target_entropy')


def in_range(value, low, high, low_open=False) -> bool:
  """Whether `value` is a finite number in [low, high] (low excluded if
  `low_open`)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    return False
  if not math.isfinite(value) or value > high:
    return False
  return value > low if low_open else value >= low


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How to train.

  Attributes:
    batch_size: number of environments B stepped in lockstep.
    unroll_length: agent steps K per update (truncated BPTT length).
    total_steps: agent steps (decisions) to train for, B * K per update; it
      sets the length of the learning-rate and entropy schedules unless
      `schedule_steps` is given.
    schedule_steps: agent steps the learning-rate and entropy schedules run
      over (None: `total_steps`); past them both stay at their final values.
      A resumed run that is extended (a larger `total_steps`) keeps the
      schedules of its first `total_steps` this way.
    seed: seed of environment, action sampling and initialisation streams.
    jit_compile: compile the update with XLA.
    jit_env: compile only the environment's step (with its resets) with XLA
      inside an update that is not (e.g. Harlow's task: its many small ops
      per primitive step fuse; the conv encoder stays on oneDNN, which is
      faster than XLA's convolutions on CPU). XLA draws other stateless random
      numbers than the default kernels, so the episodes differ from those of
      the same seed without it.
  """
  batch_size: int = 128
  unroll_length: int = 100
  total_steps: int = 10_000_000
  seed: int = 0
  jit_compile: bool = False
  jit_env: bool = False
  schedule_steps: Optional[int] = None

  def __post_init__(self):
    for name in ('batch_size', 'unroll_length', 'total_steps'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.schedule_steps is not None and self.schedule_steps < 1:
      raise ValueError(f'schedule_steps must be >= 1 or None, got '
                       f'{self.schedule_steps}')

  def _updates(self, steps: int) -> int:
    return max(1, -(-steps // (self.batch_size * self.unroll_length)))

  @property
  def total_updates(self) -> int:
    return self._updates(self.total_steps)

  @property
  def schedule_updates(self) -> int:
    """Updates the learning-rate and entropy schedules run over."""
    return self._updates(self.schedule_steps or self.total_steps)


def make_optimizer(config: A2CConfig, schedule_updates: int):
  lr = config.learning_rate
  if config.learning_rate_final is not None:
    lr = keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, schedule_updates, config.learning_rate_final,
        power=1.0)
  if config.optimizer == 'adam':
    return keras.optimizers.Adam(lr, epsilon=config.adam_epsilon)
  if config.optimizer == 'rmsprop':
    return keras.optimizers.RMSprop(lr, rho=config.rmsprop_rho,
                                    epsilon=config.rmsprop_epsilon)
  raise ValueError(f'unknown optimizer {config.optimizer!r}; choose one of '
                   f'{", ".join(OPTIMIZERS)}')
