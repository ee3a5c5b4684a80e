"""A2C training of the meta-RL agent: an in-graph driver and a dm_env driver.

`InGraphTrainer` runs B copies of a batched TF core (the synchronous
equivalent of the paper's threads). One `tf.function` plays an unroll of K
steps of environment and agent, computes the A2C loss and applies the gradient.
Environment state, agent (LSTM) state, the previous action/reward and episode
statistics live in `tf.Variable`s, carry across unrolls (truncated BPTT) and are
checkpointed, so a resumed run continues exactly where it stopped.

`PythonEnvTrainer` trains the same agent on a list of B user-supplied
`dm_env.Environment`s, stepping them from Python and updating with one
`tf.function` over the recorded unroll.

Both expose `train_step() -> dict of floats`, `checkpoint`, `num_updates`,
`env_steps_per_update`; `meta_rl.runner.run` drives either.
"""

import dataclasses
from typing import Dict, List, Optional

import dm_env
import keras
import numpy as np
import tensorflow as tf
import tree

from environments import core as core_lib
from meta_rl import losses
from meta_rl import metrics as metrics_lib
from meta_rl.agent import MetaRLAgent


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
    optimizer: 'adam' or 'rmsprop'.
    rmsprop_rho, rmsprop_epsilon: RMSProp decay and epsilon (A3C: 0.99, 0.1).
    adam_epsilon: Adam epsilon.
    max_grad_norm: global-norm gradient clipping (0 disables).
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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How to train.

  Attributes:
    batch_size: number of environments B stepped in lockstep.
    unroll_length: steps K per update (truncated BPTT length).
    total_steps: environment steps to train for (B * K per update).
    seed: seed of environment, action sampling and initialisation streams.
    jit_compile: compile the update with XLA.
  """
  batch_size: int = 128
  unroll_length: int = 100
  total_steps: int = 10_000_000
  seed: int = 0
  jit_compile: bool = False

  @property
  def total_updates(self) -> int:
    return max(1, -(-self.total_steps // (self.batch_size * self.unroll_length)))


class NonFiniteLossError(RuntimeError):
  """The loss or gradient became NaN/inf; the update was not applied."""


def make_optimizer(config: A2CConfig, total_updates: int):
  lr = config.learning_rate
  if config.learning_rate_final is not None:
    lr = keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, total_updates, config.learning_rate_final,
        power=1.0)
  if config.optimizer == 'adam':
    return keras.optimizers.Adam(lr, epsilon=config.adam_epsilon)
  if config.optimizer == 'rmsprop':
    return keras.optimizers.RMSprop(lr, rho=config.rmsprop_rho,
                                    epsilon=config.rmsprop_epsilon)
  raise ValueError(f'unknown optimizer {config.optimizer!r}; '
                   'choose adam or rmsprop')


class _A2CLearner:
  """What both drivers share: optimizer, schedules, loss and update."""

  def __init__(self, agent: MetaRLAgent, a2c: A2CConfig, train: TrainConfig):
    self.agent = agent
    self.a2c = a2c
    self.config = train
    self.total_updates = train.total_updates
    self.optimizer = make_optimizer(a2c, self.total_updates)
    self.optimizer.build(agent.trainable_variables)
    self._num_updates = tf.Variable(0, dtype=tf.int64, trainable=False,
                                    name='num_updates')
    self._root_key = core_lib.make_key(train.seed)

  @property
  def num_updates(self) -> int:
    return int(self._num_updates.numpy())

  @property
  def env_steps_per_update(self) -> int:
    return self.config.batch_size * self.config.unroll_length

  def _beta_e(self):
    if self.a2c.beta_e_final is None:
      return tf.constant(self.a2c.beta_e, tf.float32)
    frac = tf.minimum(
        tf.cast(self._num_updates, tf.float32) / float(self.total_updates), 1.0)
    return self.a2c.beta_e + frac * (self.a2c.beta_e_final - self.a2c.beta_e)

  def _loss_and_update(self, tape, logits, values, actions, rewards, discounts,
                       bootstrap_value):
    """Computes the loss (taped) and applies clipped gradients if finite."""
    beta_e = self._beta_e()
    with tape:
      loss, extra = losses.a2c_loss(logits, values, actions, rewards,
                                    discounts, bootstrap_value, self.a2c.gamma,
                                    self.a2c.beta_v, beta_e)
    variables = self.agent.trainable_variables
    grads = tape.gradient(loss, variables)
    if self.a2c.max_grad_norm > 0:
      grads, grad_norm = tf.clip_by_global_norm(grads, self.a2c.max_grad_norm)
    else:
      grad_norm = tf.linalg.global_norm(grads)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)

    def apply():
      self.optimizer.apply_gradients(zip(grads, variables))
      self._num_updates.assign_add(1)
      return tf.constant(True)

    # A non-finite update is not applied at all (no optimizer step, no moment
    # update); the Python shell then stops the run without checkpointing.
    tf.cond(finite, apply, lambda: tf.constant(False))
    lr = self.optimizer.learning_rate
    return {
        'loss': loss,
        'policy_loss': extra.policy_loss,
        'value_loss': extra.value_loss,
        'entropy': extra.entropy,
        'grad_norm': grad_norm,
        'beta_e': beta_e,
        'learning_rate': tf.convert_to_tensor(lr, tf.float32),
        'finite': tf.cast(finite, tf.float32),
    }

  def train_step(self) -> Dict[str, float]:
    metrics = {k: float(v) for k, v in self._train_step().items()}
    if metrics['finite'] != 1.0:
      raise NonFiniteLossError(
          f'non-finite loss {metrics["loss"]} or gradient norm '
          f'{metrics["grad_norm"]} at update {self.num_updates}; update skipped')
    return metrics


def _variables_like(structure, name):
  return tree.map_structure_with_path(
      lambda path, x: tf.Variable(
          x, trainable=False,
          name=name + '_' + '_'.join(str(p) for p in path)), structure)


def _assign(variables, values):
  tree.map_structure(lambda v, x: v.assign(x), variables, values)


def _read(variables):
  return tree.map_structure(lambda v: v.read_value(), variables)


class InGraphTrainer(_A2CLearner):
  """Trains on B copies of a batched TF core with the unroll in the graph."""

  def __init__(self, core: core_lib.BatchedCore, agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig()):
    super().__init__(agent, a2c, train)
    self.core = core
    b = train.batch_size
    env_state, obs = core.reset(core_lib.fold_in(self._root_key, -1), b)
    # Everything an unroll carries over to the next one, as variables.
    self._carry = {
        'env_state': _variables_like(env_state, 'env_state'),
        'observation': _variables_like(obs, 'obs'),
        'agent_state': _variables_like(agent.initial_state(b), 'agent_state'),
        'prev_action': tf.Variable(-tf.ones([b], tf.int32), trainable=False),
        'prev_reward': tf.Variable(tf.zeros([b]), trainable=False),
        'first': tf.Variable(tf.ones([b], tf.bool), trainable=False),
        'episode_return': tf.Variable(tf.zeros([b]), trainable=False),
        'episode_regret': tf.Variable(tf.zeros([b]), trainable=False),
    }
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates,
        carry=tf.Module())
    for k, v in self._carry.items():
      setattr(self.checkpoint.carry, k, v)
    self._train_step = tf.function(self._unroll_and_update,
                                   jit_compile=train.jit_compile)

  def _unroll_and_update(self):
    c = self._carry
    k = self.config.unroll_length
    key = core_lib.fold_in(self._root_key, self._num_updates)
    env_key, act_key = core_lib.split_key(key)
    env_state = _read(c['env_state'])
    obs = _read(c['observation'])
    agent_state = _read(c['agent_state'])
    prev_action, prev_reward = c['prev_action'].read_value(), c['prev_reward'].read_value()
    first = c['first'].read_value()
    ep_return, ep_regret = c['episode_return'].read_value(), c['episode_regret'].read_value()
    has_regret = metrics_lib.arm_means(self.core.task_info(env_state)) is not None

    # Autograph tracks loop variables by Python name, so one local per array.
    logits_ta = tf.TensorArray(tf.float32, size=k)
    values_ta = tf.TensorArray(tf.float32, size=k)
    actions_ta = tf.TensorArray(tf.int32, size=k)
    rewards_ta = tf.TensorArray(tf.float32, size=k)
    discounts_ta = tf.TensorArray(tf.float32, size=k)
    zero = tf.constant(0.0)
    done_episodes, done_return, done_regret = zero, zero, zero
    with tf.GradientTape() as tape:
      for t in tf.range(k):
        inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
        inputs, agent_state = self.agent.reset_where(first, inputs, agent_state)
        out, agent_state = self.agent.step(inputs, agent_state)
        action = tf.cast(tf.random.stateless_categorical(
            out.logits, 1, core_lib.fold_in(act_key, t))[:, 0], tf.int32)
        env_state, step = core_lib.step_autoreset(
            self.core, core_lib.fold_in(env_key, t), env_state, action)
        if has_regret:
          ep_regret += metrics_lib.expected_regret(step.info, action)
        ep_return += step.reward
        last = tf.cast(step.last, tf.float32)
        done_episodes += tf.reduce_sum(last)
        done_return += tf.reduce_sum(last * ep_return)
        done_regret += tf.reduce_sum(last * ep_regret)
        ep_return *= 1.0 - last
        ep_regret *= 1.0 - last
        logits_ta = logits_ta.write(t, out.logits)
        values_ta = values_ta.write(t, out.value)
        actions_ta = actions_ta.write(t, action)
        rewards_ta = rewards_ta.write(t, step.reward)
        # Returns never cross an episode end, also where an episode was cut by
        # a time limit (LAST with discount 1): that is treated as terminal.
        discounts_ta = discounts_ta.write(
            t, step.discount * (1.0 - tf.cast(step.last, tf.float32)))
        prev_action, prev_reward, first = action, step.reward, step.last
        obs = step.observation
      # Bootstrap from V of the state after the unroll (no gradient).
      inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
      inputs, boot_state = self.agent.reset_where(first, inputs, agent_state)
      bootstrap_value = tf.stop_gradient(self.agent.step(inputs, boot_state)[0].value)
      # The stacks must be taped: gradients flow through them.
      logits, values = logits_ta.stack(), values_ta.stack()  # [K, B, A], [K, B]
      rewards = rewards_ta.stack()  # [K, B]

    metrics = self._loss_and_update(tape, logits, values, actions_ta.stack(),
                                    rewards, discounts_ta.stack(),
                                    bootstrap_value)
    _assign(c['env_state'], env_state)
    _assign(c['observation'], obs)
    _assign(c['agent_state'], tree.map_structure(tf.stop_gradient, agent_state))
    for name, value in [('prev_action', prev_action), ('prev_reward', prev_reward),
                        ('first', first), ('episode_return', ep_return),
                        ('episode_regret', ep_regret)]:
      c[name].assign(value)
    metrics.update(episodes=done_episodes, episode_return_sum=done_return,
                   mean_reward=tf.reduce_mean(rewards))
    if has_regret:
      metrics['episode_regret_sum'] = done_regret
    return metrics


class PythonEnvTrainer(_A2CLearner):
  """Trains on B Python `dm_env.Environment`s (e.g. a user's own task).

  Each environment's `observation_spec()` must be a dict matching the agent's.
  Environments that provide `task_info()` with `arm_means` (or `arm_probs`)
  also get regret
  logged. Environment state is not checkpointed: a resumed run restarts
  episodes.
  """

  def __init__(self, envs: List[dm_env.Environment], agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig()):
    if len(envs) != train.batch_size:
      raise ValueError(f'got {len(envs)} environments for batch_size '
                       f'{train.batch_size}')
    super().__init__(agent, a2c, train)
    self.envs = envs
    self._keys = sorted(agent.observation_spec)
    self._obs = [self._observation(env.reset()) for env in envs]
    self._first = np.ones(len(envs), bool)
    self._prev_action = -np.ones(len(envs), np.int32)
    self._prev_reward = np.zeros(len(envs), np.float32)
    self._agent_state = agent.initial_state(len(envs))
    self._ep_return = np.zeros(len(envs), np.float32)
    self._ep_regret = np.zeros(len(envs), np.float32)
    self._has_regret = all(
        metrics_lib.arm_means(getattr(env, 'task_info', lambda: None)() or {})
        is not None
        for env in envs)
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates)
    self._act = tf.function(self._act_fn)
    self._update = tf.function(self._update_fn, jit_compile=train.jit_compile)

  def _observation(self, timestep):
    return {k: np.asarray(timestep.observation[k]) for k in self._keys}

  def _act_fn(self, inputs, first, state, key):
    inputs, state = self.agent.reset_where(first, inputs, state)
    out, state = self.agent.step(inputs, state)
    action = tf.random.stateless_categorical(out.logits, 1, key)[:, 0]
    return tf.cast(action, tf.int32), state

  def _update_fn(self, inputs, first, initial_state, actions, rewards,
                 discounts, boot_inputs, boot_first):
    with tf.GradientTape() as tape:
      out, state = self.agent.unroll(inputs, first, initial_state)
      boot_inputs, state = self.agent.reset_where(boot_first, boot_inputs, state)
      bootstrap_value = tf.stop_gradient(self.agent.step(boot_inputs, state)[0].value)
    return self._loss_and_update(tape, out.logits, out.value, actions, rewards,
                                 discounts, bootstrap_value)

  def _inputs(self):
    inputs = {k: np.stack([o[k] for o in self._obs]) for k in self._keys}
    inputs['prev_action'] = self._prev_action.copy()
    inputs['prev_reward'] = self._prev_reward.copy()
    return inputs

  def _train_step(self):
    k = self.config.unroll_length
    key = core_lib.fold_in(self._root_key, self._num_updates)
    initial_state = self._agent_state
    steps = []
    done = {'episodes': 0.0, 'episode_return_sum': 0.0}
    if self._has_regret:
      done['episode_regret_sum'] = 0.0
    for t in range(k):
      inputs, first = self._inputs(), self._first.copy()
      actions, self._agent_state = self._act(
          inputs, first, self._agent_state, core_lib.fold_in(key, t))
      actions = actions.numpy()
      rewards = np.zeros(len(self.envs), np.float32)
      discounts = np.ones(len(self.envs), np.float32)
      for i, env in enumerate(self.envs):
        if self._has_regret:
          p = np.asarray(metrics_lib.arm_means(env.task_info()))
          self._ep_regret[i] += p.max() - p[actions[i]]
        ts = env.step(int(actions[i]))
        # Returns never cross an episode end (time-limit truncation included).
        rewards[i] = ts.reward
        discounts[i] = 0.0 if ts.last() else ts.discount
        self._ep_return[i] += ts.reward
        if ts.last():
          done['episodes'] += 1
          done['episode_return_sum'] += self._ep_return[i]
          if self._has_regret:
            done['episode_regret_sum'] += self._ep_regret[i]
          self._ep_return[i] = self._ep_regret[i] = 0.0
          ts = env.reset()
        self._obs[i] = self._observation(ts)
        self._first[i] = ts.first()
      steps.append((inputs, first, actions, rewards, discounts))
      self._prev_action, self._prev_reward = actions, rewards
    stacked = [tree.map_structure(lambda *x: np.stack(x), *items)
               for items in zip(*steps)]
    metrics = self._update(*stacked[:2], initial_state, *stacked[2:],
                           self._inputs(), self._first.copy())
    metrics = dict(metrics)
    metrics.update({k: tf.constant(v) for k, v in done.items()})
    metrics['mean_reward'] = tf.constant(float(np.mean(stacked[3])))
    return metrics
