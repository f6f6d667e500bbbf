"""Test setup: the host CPU is split into 2 JAX devices before JAX starts, so every test exercises the
data-parallel path that `launch.py` uses on this machine. Tests that need another device count run a subprocess."""

import os
import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)
