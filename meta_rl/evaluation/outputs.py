"""What an evaluation of an export writes, and where (launch/evaluate.py):
the default output folder of a SavedModel (`default_output_dir`), its
TensorBoard folder (`tensorboard_dir`), the file of a recording
(`record_path`), and all of it written at once (`write_outputs`: the JSON
report, the regret figure, the recording and TensorBoard).
"""

import importlib.util
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from meta_rl import files
from meta_rl.evaluation.evaluate import Evaluation
from meta_rl.evaluation.report import plot_regret, write_tensorboard
from meta_rl.evaluation.rollout import write_recording


def run_dir_of(path: str) -> Optional[str]:
  """RUN_DIR if `path` is RUN_DIR/saved_model or one of its versions."""
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  return os.path.dirname(path) if os.path.basename(path) == 'saved_model' else None


def default_output_dir(path: str) -> str:
  """RUN_DIR/eval for a run's SavedModel, else eval/ next to the SavedModel
  (beside its versions)."""
  run_dir = run_dir_of(path)
  if run_dir:
    return os.path.join(run_dir, 'eval')
  path = os.path.abspath(path.rstrip('/'))
  if os.path.basename(path).isdigit():
    path = os.path.dirname(path)
  return os.path.join(path, 'eval')


def tensorboard_dir(saved_model: str, out_dir: str) -> str:
  """RUN_DIR/tb/eval when evaluating a run's SavedModel into RUN_DIR/eval,
  else OUTPUT_DIR/tb."""
  run_dir = run_dir_of(saved_model)
  if run_dir and os.path.abspath(out_dir) == os.path.join(run_dir, 'eval'):
    return os.path.join(run_dir, 'tb', 'eval')
  return os.path.join(out_dir, 'tb')


def record_path(path: Optional[str]) -> Optional[str]:
  """The file a recording writes: numpy's `savez` appends `.npz` to a name
  without it, so the overwrite check and the printed path use that name."""
  if not path:
    return None
  return path if path.endswith('.npz') else path + '.npz'


def output_paths(out_dir: str, task: str) -> Tuple[str, str]:
  """The report and figure of an evaluation on `task`: OUTPUT_DIR/<task>.json
  and .png."""
  return (os.path.join(out_dir, f'{task}.json'),
          os.path.join(out_dir, f'{task}.png'))


def write_outputs(result: Evaluation, policy, saved_model: str, out_dir: str,
                  *, trained: Optional[str], task_kwargs: Dict[str, Any],
                  num_episodes: int, seed: int, greedy: bool,
                  env_factory: Optional[str], record: Optional[str],
                  record_episodes: int,
                  warn: Callable[[str], None]) -> Tuple[List[str], str]:
  """Writes an evaluation of the SavedModel `saved_model` (`policy`, trained
  on `trained`) into `out_dir`: the report (<task>.json), the regret figure
  (<task>.png, unless matplotlib is missing: `warn` says so), the recording
  (`record`, if given) and the headline numbers in TensorBoard
  (`tensorboard_dir`). Returns `(written files, TensorBoard folder)`."""
  task = result.task
  json_path, png_path = output_paths(out_dir, task)
  report = {'saved_model': policy.path, 'task': task,
            'task_kwargs': task_kwargs, 'trained_on': trained, 'seed': seed,
            'greedy': greedy, 'results': result.results}
  if env_factory is not None:
    report['env_factory'] = env_factory
  files.write_json(json_path, report)
  written = [json_path]
  if importlib.util.find_spec('matplotlib') is None:
    warn('[evaluate] no figure: matplotlib (the analysis extra) is not '
         'installed')
  else:
    plot_regret(
        png_path, result.results,
        f'trained on {trained or "?"}, tested on {task} '
        f'({num_episodes} episodes)',
        suboptimal=result.episodes.get('metric_suboptimal'))
    written.append(png_path)
  if record:
    write_recording(record, task, result.episodes, record_episodes)
    written.append(record)
  steps = int(policy.metadata.get('env_steps', 0))
  tb_dir = tensorboard_dir(saved_model, out_dir)
  write_tensorboard(
      tb_dir, result, steps,
      header=(f'{policy.path}: trained on {trained or "?"} for {steps} env '
              f'steps; tested on {task}, {num_episodes} episodes, seed '
              f'{seed}' + (', greedy' if greedy else '')))
  return written, tb_dir
