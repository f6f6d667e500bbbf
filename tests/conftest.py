"""Shared test setup and helpers.

The host CPU is split into 2 JAX devices before JAX starts, so every test exercises the data-parallel path that
`launch.py` uses on this machine; tests that need another device count run a subprocess. Tests that spawn
processes or train for long are marked `slow` (CI runs them too; `-m "not slow"` skips them while editing).
"""

import functools
import os
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import ml_collections  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.config import with_overrides  # pylint: disable=g-import-not-at-top,wrong-import-position

# XLA settings that compile large models several times faster, for tests that check shapes and wiring rather
# than speed.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
fast_jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE)


def shrink(config: ml_collections.ConfigDict, num_steps: int = 4, every: int | None = None,
           **fields) -> ml_collections.ConfigDict:
  """A copy of `config` for a run of seconds: `num_steps` steps; logging, evaluation and checkpoints every
  `every` steps (default: once, at the end); no progress lines; and `fields` set, with '__' for a dot
  (`model__widths=(4,)`), through the config path, so that a mistyped field fails the test."""
  every = every or num_steps
  values = {"num_steps": num_steps, "log_every_steps": every, "eval_every_steps": every,
            "checkpoint_every_steps": every, "progress_every_seconds": 1e9}
  values.update({key.replace("__", "."): value for key, value in fields.items()})
  return with_overrides(config, values, "a test")


@pytest.fixture
def tiny_config():
  """The ERM config shrunk to a run of a few seconds."""
  from configs import erm_cmnist  # pylint: disable=g-import-not-at-top
  return shrink(erm_cmnist.get_config(), 40, 20, log_every_steps=10, model__widths=(32,))
