"""Flags and helpers shared by the launchers (never imported by the library).

A launcher starts with

    import common
    common.start()   # Ctrl-C / SIGTERM as one line; TensorFlow imported quietly

and only then imports the library; `import common` itself does nothing but
define names. A training launcher is: flags -> `experiment.TaskConfig` ->
`common.train(make_task)`, which builds the agent, A2C, training and run
configs from these flag groups and calls `meta_rl.experiment.train`:

  agent:    --core --num_units --stacked_units --reward_input --reward_values
            --agent_seed
  A2C:      --gamma --beta_v --beta_e --beta_e_final --learning_rate
            --learning_rate_final --optimizer --max_grad_norm
  training: --batch_size --unroll_length --total_steps --seed --jit_compile
            --jit_env --action_repeat
  run:      --run_dir --resume --checkpoint_every --log_every_secs
            --keep_every

Choices (--core, --task, --optimizer, baselines) come from the library's
registries, defaults from its dataclasses. Errors are one `error: ...` line
on stderr and exit status 2; library messages name settings in backticks,
printed as flags (`as_flags`).

Modules, one topic each: `process` (start-up, signals, `fail`), `flagdefs`
(flag definitions, `--help`, parsing checks), `jobs` (flags -> configs ->
`experiment.train`, also of another launcher for a sweep trial), `analysis`
(what the analysis launchers load). What the launchers then run is the
library's: `meta_rl.experiments` (the paper's analyses and figures),
`meta_rl.evaluation`, `meta_rl.serving`, `meta_rl.sweep`. Their
public names are `common.<name>`; those of the modules that import the
library are imported on first use.
"""

import importlib

from common.process import (FLAGS, as_flags, fail, import_tensorflow,
                            mark_started, start)

_LIBRARY_MODULES = ('flagdefs', 'jobs', 'analysis')


def __getattr__(name):
  for module_name in _LIBRARY_MODULES:
    module = importlib.import_module(f'common.{module_name}')
    if name in module.__all__:
      value = getattr(module, name)
      globals()[name] = value
      return value
  raise AttributeError(f"module 'common' has no attribute {name!r}")


def __dir__():
  names = ['FLAGS', 'as_flags', 'fail', 'import_tensorflow', 'mark_started',
           'start']
  for module_name in _LIBRARY_MODULES:
    names += importlib.import_module(f'common.{module_name}').__all__
  return sorted(names)
