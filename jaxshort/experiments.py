"""Experiments by name: `config.experiment` picks the function that runs a config into a workdir."""

import ml_collections

from jaxshort.localization import experiment as localization
from jaxshort.registry import Registry
from jaxshort.suite import run_suite
from jaxshort.sitar import experiment as sitar_experiment
from jaxshort.training import train
from jaxshort.training.lock import WorkdirLock
from jaxshort.training.workdir import check_config, ensure_writable, is_primary

EXPERIMENTS: Registry = Registry("experiment")
EXPERIMENTS.register("train")(train.train_and_evaluate)
EXPERIMENTS.register("localize")(localization.localize)


@EXPERIMENTS.register("suite")
def suite(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Several experiments, one per sub-folder (see jaxshort/suite.py)."""
  return run_suite(config, workdir, run)
EXPERIMENTS.register("sitar")(sitar_experiment.sitar_experiment)
EXPERIMENTS.register("compare")(sitar_experiment.compare_experiment)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs the experiment named `config.experiment`; returns what it wrote to results.json."""
  return EXPERIMENTS.get(config.experiment)(config, workdir)


def run_in_workdir(config: ml_collections.ConfigDict, workdir: str, overwrite: bool = False) -> dict:
  """`run` with the workdir guarded: writable, held by this process alone, and holding no run of another config
  (unless `overwrite`, which moves that run aside)."""
  ensure_writable(workdir)
  if not is_primary():  # the other processes of a multi-host run follow process 0, which holds the lock
    return run(config, workdir)
  with WorkdirLock(workdir):
    check_config(workdir, config, overwrite)
    return run(config, workdir)
