"""Test setup: the host CPU is split into 2 JAX devices before JAX starts, so every test exercises the
data-parallel path that `launch.py` uses on this machine. Tests that need another device count run a subprocess."""

import os
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture
def tiny_config():
  """The default config shrunk to a run of a few seconds."""
  from configs import erm_cmnist as default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.num_steps = 40
  config.log_every_steps = 10
  config.eval_every_steps = 20
  config.checkpoint_every_steps = 20
  config.model.widths = (32,)
  config.progress_every_seconds = 1e9
  return config
