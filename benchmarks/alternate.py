"""Throughput of two commits, measured alternately in one sitting.

  python benchmarks/alternate.py --old=b2ef1a0 --new=HEAD --sittings=5 \
      --args='--sections=bandits --xla --seconds=5'

Checks both commits out as git worktrees in a temporary directory, then runs
`benchmarks/throughput.py ARGS` of each in turn (old, new, old, new, ...),
each in a fresh process with that worktree first on PYTHONPATH. Prints every
row of every run, then per row the median of each commit, the new/old ratio
of each sitting and the median ratio. The machine is shared and noisy: only
ratios within one sitting mean something, and only on otherwise idle cores.
`--old_args` overrides `--args` for the old commit (its benchmark may take
other flags).
"""

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = re.compile(r'^(?P<name>.{28}) +(?P<rate>[\d,]+) '
                 r'(?P<unit>env steps/s|decisions/s|frames/s)')


def run(tree, args):
  """{row name: rate} of one run of the commit checked out at `tree`."""
  env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(
      [sys.executable, os.path.join(tree, 'benchmarks', 'throughput.py'),
       *args], capture_output=True, text=True, env=env, cwd=tree)
  if proc.returncode != 0:
    raise SystemExit(f'error: the benchmark of {tree} failed: '
                     f'{proc.stderr.strip().splitlines()[-1:]}')
  rows = {}
  for line in proc.stdout.splitlines():
    m = ROW.match(line)
    if m:
      rows[f'{m["name"].strip()} ({m["unit"]})'] = float(
          m['rate'].replace(',', ''))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--old', required=True, help='commit-ish')
  parser.add_argument('--new', default='HEAD', help='commit-ish')
  parser.add_argument('--sittings', type=int, default=5)
  parser.add_argument('--args', default='--xla --seconds=5',
                      help="throughput.py's flags, one string")
  parser.add_argument('--old_args', default=None)
  opts = parser.parse_args()
  if opts.sittings < 1:
    parser.error('--sittings must be >= 1')
  args = {'new': shlex.split(opts.args),
          'old': shlex.split(opts.old_args if opts.old_args is not None
                             else opts.args)}
  with tempfile.TemporaryDirectory() as tmp:
    trees = {}
    for which in ('old', 'new'):
      trees[which] = os.path.join(tmp, which)
      subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach',
                      trees[which], getattr(opts, which)], check=True,
                     capture_output=True)
    try:
      results = {'old': [], 'new': []}
      for sitting in range(opts.sittings):
        for which in ('old', 'new'):
          rows = run(trees[which], args[which])
          results[which].append(rows)
          print(f'sitting {sitting + 1} {which}: ' + '; '.join(
              f'{k} {v:,.0f}' for k, v in rows.items()), flush=True)
    finally:
      for tree in trees.values():
        subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force',
                        tree], capture_output=True)
  names = [n for n in results['new'][0] if n in results['old'][0]]
  print(f'\n{"row":<48} {"old":>10} {"new":>10}  new/old per sitting'
        '  median ratio')
  for name in names:
    old = [r[name] for r in results['old']]
    new = [r[name] for r in results['new']]
    ratios = [n / o for n, o in zip(new, old)]
    print(f'{name:<48} {statistics.median(old):>10,.0f} '
          f'{statistics.median(new):>10,.0f}  '
          f'{" ".join(f"{r:.2f}" for r in ratios)}  '
          f'{statistics.median(ratios):.2f}')


if __name__ == '__main__':
  main()
