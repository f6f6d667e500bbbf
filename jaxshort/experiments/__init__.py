"""Experiments by name: `config.experiment` picks the module whose `run(config, workdir) -> results` runs a
config into a workdir. The top layer of the library: an experiment builds data and models, trains through
jaxshort.training and the method libraries, writes results.json and draws its figures (jaxshort.report)."""

import contextlib
import os

import jax
import ml_collections

from jaxshort import config as config_lib
from jaxshort import data as data_lib
from jaxshort import models
from jaxshort.config import parse_variant, with_overrides
from jaxshort.experiments import compare, localize, sitar, suite, train
from jaxshort.errors import UserError
from jaxshort.localization.interventions import parse_interventions
from jaxshort.methods import METHODS
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


def run_configs(config: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
  """The run configs that `config` trains first, as its experiment makes them: a suite's parts, a comparison's
  first seed with each of its variants, else the config itself."""
  if config.experiment == "suite":
    return [c for name in config.parts for c in run_configs(suite.part_config(config, name))]
  if config.experiment == "compare":
    seed = config.compare.seeds[0]
    return [with_overrides(config, {**values, "seed": seed}, "compare.variants")
            for _, values in map(parse_variant, config.compare.variants)]
  return [config]


def host_memory_bytes() -> int | None:
  """The host's physical memory, where the OS says (Linux, macOS); None elsewhere."""
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (AttributeError, ValueError, OSError):
    return None


def preflight(config: ml_collections.ConfigDict, source: str = "the config") -> None:
  """The checks of `config` that need its built datasets, models and devices, run before the workdir is touched
  (config.check_against_data; each model built abstractly for its dataset's images, its pretrained weights file
  found; localization interventions against the model's blocks). Inside `data.shared_builds()`, the run then reuses the datasets built here."""
  for run_config in run_configs(config):
    if run_config.experiment in ("sitar", "compare"):
      METHODS.get(run_config.method)
    dataset = data_lib.build_dataset(run_config.dataset, run_config.seed)
    roles = ("clean_train", "skewed_train") if run_config.experiment == "localize" else ("train",)
    config_lib.check_against_data(run_config, {n: len(s["label"]) for n, s in dataset.splits.items()},
                                  [dataset.roles[r] for r in roles], jax.device_count(), source)
    model = models.build_model(run_config.model, dataset.num_classes)
    models.check_builds(model, dataset.image_shape, host_memory_bytes())
    if run_config.model.pretrained:
      models.check_pretrained_source(run_config.model.name, run_config.model.pretrained)
    if run_config.experiment == "localize":
      parse_interventions(run_config.localize.interventions, model.blocks)


def run_in_workdir(config: ml_collections.ConfigDict, workdir: str, overwrite: bool = False,
                   source: str = "the config") -> dict:
  """`run` with the workdir guarded: the checks that need the data first (`preflight`, before anything is
  written), then writable, held by this process alone, and holding no run of another config (unless
  `overwrite`, which moves that run aside). `source` names the config file in messages."""
  EXPERIMENTS.get(config.experiment)  # an unknown experiment is refused before anything is written
  with data_lib.shared_builds():
    preflight(config, source)
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
