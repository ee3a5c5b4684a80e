"""`InGraphTrainer`: A2C on B copies of a batched TF core, the whole unroll
and update in one `tf.function`."""

import functools
from typing import Callable, Dict, Optional, Sequence, Tuple

import tensorflow as tf
import tree

from environments import core as core_lib
from meta_rl import metrics as metrics_lib
from meta_rl.agent import MetaRLAgent, sample_action
from meta_rl.training.config import A2CConfig, TrainConfig
from meta_rl.training.learner import (A2CLearner, as_sums, assign_values,
                                      histogram_outputs, read_values,
                                      variables_like)


class InGraphTrainer(A2CLearner):
  """Trains on B copies of a batched TF core with the unroll in the graph."""

  def __init__(self, core: core_lib.BatchedCore, agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig(),
               stages: Sequence[Tuple[int, core_lib.BatchedCore]] = (),
               log: Optional[Callable[[str], None]] = None):
    """Args:
      core, agent, a2c, train: the task, the agent and how to train it.
      stages: a curriculum (`meta_rl.curriculum`): `(start update, core)`
        pairs, starts increasing and >= 1. The first update whose index
        (`num_updates` before it) is at or past a start trains on that
        stage's core, with every episode restarted there; the core before
        the first start is `core`. Every stage must have `core`'s
        observation spec, actions and metrics.
      log: where a line goes when a stage begins (None: nowhere).
    """
    super().__init__(agent, a2c, train)
    self.progress_metrics = core.progress_metrics
    self.derived_metrics = core.derived_metrics
    b = train.batch_size
    env_state, obs = core.reset(core_lib.fold_in(self._root_key, -1), b)
    self._episode_keys, self._has_frames = self._metric_keys(core, env_state)
    self._stages = [(0, core)] + [(int(u), c) for u, c in stages]
    for i, (start, stage_core) in enumerate(self._stages[1:], 1):
      if start <= self._stages[i - 1][0]:
        raise ValueError('curriculum stages must start at increasing updates '
                         f'>= 1, got {[u for u, _ in self._stages[1:]]}')
      self._check_stage(core, stage_core, b, start)
    self._stage = 0
    self._log = log
    self._feature_size = int(agent.encode(obs).shape[-1])
    running = metrics_lib.zero_episode_sums(self._episode_keys, b)
    # Everything an unroll carries over to the next one, as variables.
    self._carry = {
        'env_state': variables_like(env_state, 'env_state'),
        'observation': variables_like(obs, 'obs'),
        'agent_state': variables_like(agent.initial_state(b), 'agent_state'),
        'prev_action': tf.Variable(-tf.ones([b], tf.int32), trainable=False),
        'prev_reward': tf.Variable(tf.zeros([b]), trainable=False),
        'first': tf.Variable(tf.ones([b], tf.bool), trainable=False),
        'episode_sums': tf.Variable(running, trainable=False,
                                    name='episode_sums'),
    }
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates,
        frames=self._frames, carry=tf.Module(), **self.checkpoint_items())
    for k, v in self._carry.items():
      setattr(self.checkpoint.carry, k, v)
    self._use_core(core)

  def _use_core(self, core):
    """Trains on `core` from the next update (compiled anew)."""
    self.core = core
    train = self.config
    self._env_step = functools.partial(core_lib.step_autoreset, core)
    if train.jit_env and not train.jit_compile:
      self._env_step = tf.function(self._env_step, jit_compile=True,
                                   autograph=False)
    self._train_step = tf.function(self._unroll_and_update,
                                   jit_compile=train.jit_compile)

  def _metric_keys(self, core, env_state):
    """The task's episode metric names (and whether it counts frames), from
    one throw-away step."""
    b = self.config.batch_size
    _, probe = core.step(core_lib.fold_in(self._root_key, -2), env_state,
                         tf.zeros([b], tf.int32))
    return metrics_lib.episode_keys(probe.metrics), 'frames' in probe.metrics

  def _check_stage(self, core, stage_core, b, start):
    problem = None
    if stage_core.num_actions != core.num_actions:
      problem = (f'{stage_core.num_actions} actions instead of '
                 f'{core.num_actions}')
    elif stage_core.observation_spec() != core.observation_spec():
      problem = (f'observations {stage_core.observation_spec()} instead of '
                 f'{core.observation_spec()}')
    else:
      state, _ = stage_core.reset(core_lib.fold_in(self._root_key, -1), b)
      if self._metric_keys(stage_core, state) != (self._episode_keys,
                                                  self._has_frames):
        problem = 'other episode metrics'
    if problem:
      raise ValueError(f'the curriculum stage from update {start} changes '
                       f'what the agent sees or does: {problem}')

  @property
  def final_core(self) -> core_lib.BatchedCore:
    """The core of the last stage: the task the run ends on."""
    return self._stages[-1][1]

  @property
  def stage(self) -> int:
    """The curriculum stage of the latest update (0: the first core)."""
    return self._stage

  def _enter_stage(self):
    """Before an update: the core of the stage its index falls in. At the
    stage's first update every episode restarts; a trainer restored past
    that update (a resumed run) carries on the episodes it restored."""
    update = self.num_updates
    i = max(j for j, (start, _) in enumerate(self._stages) if start <= update)
    if i == self._stage:
      return
    start, core = self._stages[i]
    self._use_core(core)
    self._stage = i
    if update == start:
      self._restart_episodes(core, i)
    if self._log:
      self._log(f'curriculum stage {i} from update {start} '
                f'({start * self.env_steps_per_update} decisions)'
                + ('' if update == start else f', resumed at update {update}'))

  def _restart_episodes(self, core, stage):
    b = self.config.batch_size
    env_state, obs = core.reset(core_lib.fold_in(self._root_key, -2 - stage),
                                b)
    c = self._carry
    assign_values(c['env_state'], env_state)
    assign_values(c['observation'], obs)
    assign_values(c['agent_state'], self.agent.initial_state(b))
    c['prev_action'].assign(-tf.ones([b], tf.int32))
    c['prev_reward'].assign(tf.zeros([b]))
    c['first'].assign(tf.ones([b], tf.bool))
    c['episode_sums'].assign(
        metrics_lib.zero_episode_sums(self._episode_keys, b))

  def train_step(self) -> Dict[str, float]:
    if len(self._stages) == 1:
      return super().train_step()
    self._enter_stage()
    return dict(super().train_step(), curriculum_stage=float(self._stage))

  def _update_function(self):
    return self._train_step

  def _unroll_and_update(self):
    """Acts K steps and learns from them in one taped pass.

    Core and heads are taped step by step while acting (one forward pass, as
    the paper's A3C). The encoder is not: inside the loop its features enter
    the core through `stop_gradient(features) + z_t`, where z [K, B, F] is a
    watched zero tensor, so the loss gradient with respect to z is the
    gradient at the features of every step; after the loop the encoder runs
    once on all K*B observations and receives that gradient
    (`output_gradients`). A conv encoder is thus differentiated on one batch
    of K*B frames instead of K batches of B inside the loop. Tasks whose
    encoder has no weights (bandits, two-step) skip this.
    """
    c = self._carry
    k, b = self.config.unroll_length, self.config.batch_size
    key = core_lib.fold_in(self._root_key, self._num_updates)
    env_key, act_key = core_lib.split_key(key)
    env_state = read_values(c['env_state'])
    obs = read_values(c['observation'])
    agent_state = read_values(c['agent_state'])
    prev_action = c['prev_action'].read_value()
    prev_reward = c['prev_reward'].read_value()
    first = c['first'].read_value()
    running = c['episode_sums'].read_value()
    totals = metrics_lib.zero_episode_sums(self._episode_keys, b)
    frames = tf.constant(0.0)
    encoder_vars = self.agent.encoder.trainable_variables
    encoder_ids = {id(v) for v in encoder_vars}
    other_vars = [v for v in self.agent.trainable_variables
                  if id(v) not in encoder_ids]

    # Autograph tracks loop variables by Python name: one local per array.
    logits_ta = tf.TensorArray(tf.float32, size=k)
    values_ta = tf.TensorArray(tf.float32, size=k)
    actions_ta = tf.TensorArray(tf.int32, size=k)
    rewards_ta = tf.TensorArray(tf.float32, size=k)
    discounts_ta = tf.TensorArray(tf.float32, size=k)
    obs_ta = ({name: tf.TensorArray(x.dtype, size=k) for name, x in obs.items()}
              if encoder_vars else {})
    with tf.GradientTape() as tape:
      if encoder_vars:
        z = tf.zeros([k, b, self._feature_size])
        tape.watch(z)
        z_ta = tf.TensorArray(tf.float32, size=k).unstack(z)
      for t in tf.range(k):
        if encoder_vars:
          obs_ta = {name: ta.write(t, obs[name]) for name, ta in obs_ta.items()}
        inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
        inputs, agent_state = self.agent.reset_where(first, inputs, agent_state)
        features = self.agent.encode(inputs)
        if encoder_vars:
          features = tf.stop_gradient(features) + z_ta.read(t)
        out, agent_state = self.agent.core_step(
            features, inputs['prev_action'], inputs['prev_reward'], agent_state)
        action = sample_action(out.logits, core_lib.fold_in(act_key, t))
        # No gradient flows through the task (an XLA-compiled step must not
        # be rewritten for one).
        env_state, step = tree.map_structure(tf.stop_gradient, self._env_step(
            core_lib.fold_in(env_key, t), env_state, action))
        running, totals = metrics_lib.track_episodes(
            running, totals, step.reward, step.metrics, step.last)
        if self._has_frames:
          frames += tf.reduce_sum(step.metrics['frames'])
        logits_ta = logits_ta.write(t, out.logits)
        values_ta = values_ta.write(t, out.value)
        actions_ta = actions_ta.write(t, action)
        rewards_ta = rewards_ta.write(t, step.reward)
        # Returns never cross an episode end, also where an episode was cut
        # by a time limit (LAST with discount 1): that is treated as terminal.
        discounts_ta = discounts_ta.write(
            t, step.discount * (1.0 - tf.cast(step.last, tf.float32)))
        prev_action, prev_reward, first = action, step.reward, step.last
        obs = step.observation
      # Bootstrap from V of the state after the unroll (no gradient).
      inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
      inputs, boot_state = self.agent.reset_where(first, inputs, agent_state)
      bootstrap_value = self.agent.step(inputs, boot_state)[0].value
      rewards = rewards_ta.stack()  # [K, B]
      logits, values = logits_ta.stack(), values_ta.stack()  # [K, B, A], [K, B]
      loss, extra = self._loss(logits, values, actions_ta.stack(), rewards,
                               discounts_ta.stack(), bootstrap_value)
    grads = tape.gradient(loss, other_vars + ([z] if encoder_vars else []))
    if encoder_vars:
      dz = grads.pop()  # [K, B, F]
      flat = {name: tf.reshape(ta.stack(), [k * b, *obs[name].shape[1:]])
              for name, ta in obs_ta.items()}
      with tf.GradientTape() as encoder_tape:
        features = self.agent.encode(flat)  # [K*B, F]
      grads += encoder_tape.gradient(
          features, encoder_vars,
          output_gradients=tf.reshape(dz, [k * b, self._feature_size]))
    metrics = self._apply(loss, extra, grads, other_vars + encoder_vars,
                          rewards)
    metrics.update(histogram_outputs(logits, values))
    self._frames.assign_add(tf.cast(frames, tf.int64) if self._has_frames
                            else k * b)
    assign_values(c['env_state'], env_state)
    assign_values(c['observation'], obs)
    assign_values(c['agent_state'],
                  tree.map_structure(tf.stop_gradient, agent_state))
    c['episode_sums'].assign(running)
    for name, value in [('prev_action', prev_action), ('prev_reward', prev_reward),
                        ('first', first)]:
      c[name].assign(value)
    metrics.update(as_sums(metrics_lib.sum_over_batch(self._episode_keys,
                                                      totals)))
    return metrics
