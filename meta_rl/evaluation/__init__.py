"""Frozen evaluation (meta_rl/evaluation.py moved into a package; split into
one module per topic in the next commit)."""

from meta_rl.evaluation.evaluate import *  # noqa: F401,F403  pylint: disable=wildcard-import
