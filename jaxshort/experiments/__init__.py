"""Experiments by name: `config.experiment` picks the module whose `run(config, workdir) -> results` runs a
config into a workdir. The top layer of the library: an experiment builds data and models, trains through
jaxshort.training and the method libraries, writes results.json and draws its figures (jaxshort.report)."""

import contextlib

import ml_collections

from jaxshort.experiments import compare, localize, sitar, suite, train
from jaxshort.errors import UserError
from jaxshort.registry import Registry
from jaxshort.training import sharding
from jaxshort.training.lock import WorkdirLock
from jaxshort.training.workdir import check_config, ensure_writable, is_primary

EXPERIMENTS: Registry = Registry("experiment")
EXPERIMENTS.register("train")(train.run)
EXPERIMENTS.register("localize")(localize.run)
EXPERIMENTS.register("sitar")(sitar.run)
EXPERIMENTS.register("compare")(compare.run)


@EXPERIMENTS.register("suite")
def run_suite(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Several experiments, one per sub-folder (see experiments/suite.py)."""
  return suite.run(config, workdir, run)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs the experiment named `config.experiment`; returns what it wrote to results.json."""
  return EXPERIMENTS.get(config.experiment)(config, workdir)


def run_in_workdir(config: ml_collections.ConfigDict, workdir: str, overwrite: bool = False) -> dict:
  """`run` with the workdir guarded: writable, held by this process alone, and holding no run of another config
  (unless `overwrite`, which moves that run aside)."""
  EXPERIMENTS.get(config.experiment)  # an unknown experiment is refused before anything is written
  if not is_primary():  # the other processes of a multi-host run follow process 0, which holds the lock
    if not sharding.from_process_zero(False):
      raise UserError(f"process 0 refused workdir {workdir!r}; its message says why")
    return run(config, workdir)
  with contextlib.ExitStack() as stack:
    ready = False
    try:
      ensure_writable(workdir)
      stack.enter_context(WorkdirLock(workdir))
      check_config(workdir, config, overwrite)
      ready = True
    finally:  # the others start once the workdir is settled, or stop if it was refused
      sharding.from_process_zero(ready)
    return run(config, workdir)
