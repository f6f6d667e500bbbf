"""The `suite` experiment: several experiments, each a sub-config run into its own sub-folder of the workdir.

The default config is a suite (ERM on Colored MNIST, a small localization profile, ...), so one command shows
what the library does. `config.parts` names the sub-configs in order; the suite's `seed` is given to each part.
A part whose results.json exists is not run again, so a killed suite resumes where it stopped.
"""

import os
import sys

import ml_collections

from jaxshort.experiments.results import write_results
from jaxshort.training.workdir import read_json


def part_config(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The run config of part `name`, with the suite's seed and device count."""
  part = config[name].copy_and_resolve_references()
  with part.unlocked():
    part.seed = config.seed
    part.num_cpu_devices = config.num_cpu_devices
  return part


def run(config: ml_collections.ConfigDict, workdir: str, run_experiment) -> dict:
  """Runs each part of `config.parts` with `run_experiment(part_config, part_workdir)`; writes a summary."""
  summary, parts = {}, {}
  for name in config.parts:
    part = part_config(config, name)
    part_dir = os.path.join(workdir, name)
    results_path = os.path.join(part_dir, "results.json")
    if os.path.exists(results_path):
      print(f"[suite] {name}: done before, reading {results_path}", file=sys.stderr, flush=True)
      results = read_json(results_path)
    else:
      print(f"[suite] {name}: {part.experiment} -> {part_dir}", file=sys.stderr, flush=True)
      os.makedirs(part_dir, exist_ok=True)
      results = run_experiment(part, part_dir)
    parts[name] = {"experiment": part.experiment, "workdir": part_dir, "summary": results.get("summary", {})}
    summary.update({f"{name}/{key}": value for key, value in results.get("summary", {}).items()})
  return write_results(workdir, {"experiment": "suite", "seed": config.seed, "summary": summary, "parts": parts})
