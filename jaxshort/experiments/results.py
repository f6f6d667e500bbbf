"""What every experiment's results.json shares: the schema version, the headline numbers, the environment."""

import os

import jax

from jaxshort import data as data_lib
from jaxshort.training.workdir import SCHEMA_VERSION, write_json


def result_summary(dataset: data_lib.Dataset, split_metrics: dict[str, dict]) -> dict:
  """The headline numbers: in- and out-of-distribution accuracy, worst-group accuracy on the OOD split."""
  roles = dataset.roles
  ood = split_metrics.get(roles.get("out_of_distribution"), {})
  return {
      "in_distribution_accuracy": split_metrics.get(roles.get("in_distribution"), {}).get("accuracy"),
      "out_of_distribution_accuracy": ood.get("accuracy"),
      "out_of_distribution_worst_group_accuracy": ood.get("worst_group_accuracy"),
      "validation_balanced_accuracy": split_metrics.get(roles.get("validation"), {}).get("balanced_accuracy"),
  }


def environment() -> dict:
  return {"jax": jax.__version__, "backend": jax.default_backend(), "num_devices": jax.device_count(),
          "num_processes": jax.process_count(), "devices": [str(d) for d in jax.devices()]}


def write_results(workdir: str, results: dict, name: str = "results.json") -> dict:
  """Writes `results` with `schema_version` first into workdir/name (atomically); returns what was written."""
  results = {"schema_version": SCHEMA_VERSION, **results}
  write_json(os.path.join(workdir, name), results)
  return results
