"""Experiments by name: `config.experiment` picks the function that runs a config into a workdir."""

import ml_collections

from jaxshort.registry import Registry
from jaxshort.sitar import experiment as sitar_experiment
from jaxshort.training import train

EXPERIMENTS: Registry = Registry("experiment")
EXPERIMENTS.register("train")(train.train_and_evaluate)
EXPERIMENTS.register("sitar")(sitar_experiment.sitar_experiment)
EXPERIMENTS.register("compare")(sitar_experiment.compare_experiment)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs the experiment named `config.experiment`; returns what it wrote to results.json."""
  return EXPERIMENTS.get(config.experiment)(config, workdir)
