"""Sweeps as batch jobs: a config's `sweep` field declares a grid; each grid point is one job, run into its own
sub-folder of the sweep's workdir through `experiments.run_in_workdir` (locked, resumable, refusing a folder that
holds a run of another config).

    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --all           # every job, one process
    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --job-index 3   # job 3 only
    python -m jaxshort.sweep --config configs/x.py --workdir runs/sweep --job-index 1 --num-jobs 4
                                                                    # jobs 1, 5, 9, ... (one of 4 batch tasks)
    python -m jaxshort.sweep collect --workdir runs/sweep   # every finished job's summary: sweep.md, sweep.json

`--config.a.b=value` overrides a field of the config for every job, as in launch.py (values are Python literals,
or plain strings).

The grid: `config.sweep = {'seed': (0, 1, 2), 'model': {'name': ('mlp', 'small_cnn')}}` (nested like the config,
since config field names cannot hold dots); every leaf is a tuple of values and the jobs are the product, in the
order of the sorted dotted field names. A job's config is the config without `sweep` and with its values set; its
folder is named by them (`model.name=mlp,seed=0`). A job whose results.json exists is skipped. See docs/sweeps.md.
"""

import argparse
import ast
import importlib.util
import itertools
import os
import sys
from typing import Any

import ml_collections

from jaxshort.errors import UserError

SWEEP_FIELD = "sweep"


def grid_axes(sweep: ml_collections.ConfigDict) -> list[tuple[str, tuple]]:
  """[(dotted field name, values)] of a `sweep` field, sorted by name; each leaf must be a non-empty tuple/list."""
  axes = []
  for key, value in sweep.items():
    if isinstance(value, ml_collections.ConfigDict):
      axes += [(f"{key}.{name}", values) for name, values in grid_axes(value)]
    elif isinstance(value, (tuple, list)) and value:
      axes.append((key, tuple(value)))
    else:
      raise UserError(f"sweep.{key} must be a non-empty tuple of values, got {value!r}")
  return sorted(axes)


def set_field(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
  """Sets config.a.b.c = value for dotted 'a.b.c'; UserError if the field does not exist."""
  *parents, name = dotted.split(".")
  node = config
  for parent in parents:
    if parent not in node or not isinstance(node[parent], ml_collections.ConfigDict):
      raise UserError(f"field {dotted!r}: the config has no field {parent!r}")
    node = node[parent]
  if name not in node:
    raise UserError(f"field {dotted!r}: the config has no field {name!r}")
  node[name] = value


def job_name(values: dict[str, Any]) -> str:
  """A folder name from a job's values: 'model.name=mlp,model.widths=64-32,seed=0' (tuples joined by '-',
  characters other than letters, digits and '=,.-_' replaced by '_')."""
  def text(value):
    return "-".join(text(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
  name = ",".join(f"{key}={text(value).replace(',', '_')}" for key, value in values.items())
  return "".join(c if c.isalnum() or c in "=,.-_" else "_" for c in name)


def grid_jobs(config: ml_collections.ConfigDict) -> list[tuple[str, dict, ml_collections.ConfigDict]]:
  """(name, {dotted field: value}, job config) of every grid point, in a fixed order. A config without a sweep
  is one job named 'run'."""
  base = config.copy_and_resolve_references()
  sweep = base.get(SWEEP_FIELD)
  with base.unlocked():
    if SWEEP_FIELD in base:
      del base[SWEEP_FIELD]
  if not sweep:
    return [("run", {}, base)]
  axes = grid_axes(sweep)
  jobs = []
  for combination in itertools.product(*(values for _, values in axes)):
    values = dict(zip((name for name, _ in axes), combination))
    job = base.copy_and_resolve_references()
    for key, value in values.items():
      set_field(job, key, value)
    jobs.append((job_name(values), values, job))
  return jobs


def job_indices(num_jobs_in_grid: int, job_index: int | None, num_jobs: int | None) -> list[int]:
  """Which grid points this process runs: all (no index), grid point `job_index` (no num_jobs), or every
  `num_jobs`-th point starting at `job_index` (num_jobs batch tasks sharing the grid)."""
  if job_index is None:
    return list(range(num_jobs_in_grid))
  if num_jobs is None:
    if not 0 <= job_index < num_jobs_in_grid:
      raise UserError(f"--job-index {job_index} is outside the grid of {num_jobs_in_grid} jobs")
    return [job_index]
  if not 0 <= job_index < num_jobs:
    raise UserError(f"--job-index must lie in [0, --num-jobs={num_jobs}), got {job_index}")
  return list(range(job_index, num_jobs_in_grid, num_jobs))


def results_path(workdir: str, name: str) -> str:
  return os.path.join(workdir, name, "results.json")


def run_jobs(config: ml_collections.ConfigDict, workdir: str, indices: list[int]) -> list[str]:
  """Runs grid points `indices` of `config` into workdir/<job name>/, skipping finished ones; writes the grid to
  workdir/sweep_grid.json. Returns the names of the jobs run now."""
  from jaxshort import experiments  # pylint: disable=import-outside-toplevel  (imports JAX: after device setup)
  from jaxshort.training.workdir import write_json  # pylint: disable=import-outside-toplevel
  jobs = grid_jobs(config)
  os.makedirs(workdir, exist_ok=True)
  write_json(os.path.join(workdir, "sweep_grid.json"), [{"name": n, "values": v} for n, v, _ in jobs])
  ran = []
  for index in indices:
    name, _, job = jobs[index]
    if os.path.exists(results_path(workdir, name)):
      print(f"[sweep] job {index} {name}: finished before, skipped", file=sys.stderr, flush=True)
      continue
    print(f"[sweep] job {index}/{len(jobs)} {name}", file=sys.stderr, flush=True)
    experiments.run_in_workdir(job, os.path.join(workdir, name))
    ran.append(name)
  return ran


def collect(workdir: str) -> dict:
  """Every finished job's values and summary: {'columns': [...], 'rows': [{job, values..., summary...}],
  'missing': [job names without results]}; also written to workdir/sweep.json and, as a table, sweep.md."""
  from jaxshort.training.workdir import read_json, write_json  # pylint: disable=import-outside-toplevel
  grid_file = os.path.join(workdir, "sweep_grid.json")
  if not os.path.exists(grid_file):
    raise UserError(f"{workdir!r} holds no sweep (no sweep_grid.json); run `python -m jaxshort.sweep --config ...` "
                    f"into it first")
  grid = read_json(grid_file)
  rows, missing = [], []
  for job in grid:
    path = results_path(workdir, job["name"])
    if not os.path.exists(path):
      missing.append(job["name"])
      continue
    rows.append({"job": job["name"], **job["values"], **read_json(path).get("summary", {})})
  columns = list(dict.fromkeys(key for row in rows for key in row))
  table = {"columns": columns, "rows": rows, "missing": missing}
  write_json(os.path.join(workdir, "sweep.json"), table)
  with open(os.path.join(workdir, "sweep.md"), "w", encoding="utf-8") as f:
    f.write(markdown_table(columns, rows))
  return table


def markdown_table(columns: list[str], rows: list[dict]) -> str:
  """A markdown table; floats with 4 decimals, absent cells empty."""
  def cell(value):
    if value is None:
      return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def load_config(path: str) -> ml_collections.ConfigDict:
  """`get_config()` of a config file; 'file.py:arg' passes arg to it."""
  path, _, arg = path.partition(":")
  if not os.path.isfile(path):
    raise UserError(f"config file {path!r} not found")
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  if repo not in sys.path:
    sys.path.insert(0, repo)  # configs import each other as `configs.x`
  spec = importlib.util.spec_from_file_location("sweep_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> None:
  """Sets every '--config.a.b=value' of `overrides` on `config` (value a Python literal, else a string)."""
  for override in overrides:
    dotted, _, text = override[len("--config."):].partition("=")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    try:
      set_field(config, dotted, value)
    except TypeError as error:
      raise UserError(f"{override}: {error}") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m jaxshort.sweep", description=__doc__.splitlines()[0])
  parser.add_argument("command", nargs="?", choices=("run", "collect"), default="run")
  parser.add_argument("--config", help="config file with get_config() and a `sweep` field")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--job-index", type=int, help="run this grid point (with --num-jobs: every num-jobs-th)")
  parser.add_argument("--num-jobs", type=int, help="how many batch tasks share the grid")
  parser.add_argument("--all", action="store_true", help="run every grid point in this process")
  args, unknown = parser.parse_known_args(argv)
  args.overrides = [a for a in unknown if a.startswith("--config.") and "=" in a]
  if len(args.overrides) < len(unknown):
    parser.error(f"unrecognized arguments: {' '.join(a for a in unknown if a not in args.overrides)}")
  if args.command == "run":
    if not args.config:
      parser.error("--config is required")
    if args.all == (args.job_index is not None):
      parser.error("pass either --all or --job-index")
    if args.num_jobs is not None and args.job_index is None:
      parser.error("--num-jobs needs --job-index")
  return args


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  try:
    if args.command == "collect":
      table = collect(args.workdir)
      print(markdown_table(table["columns"], table["rows"]), end="")
      if table["missing"]:
        print(f"not finished: {', '.join(table['missing'])}")
      return
    config = load_config(args.config)
    apply_overrides(config, args.overrides)
    from jaxshort.training import sharding  # pylint: disable=import-outside-toplevel
    sharding.setup_devices(config.get("num_cpu_devices", 0), config.get("distributed", "auto"))
    indices = job_indices(len(grid_jobs(config)), args.job_index, args.num_jobs)
    run_jobs(config, args.workdir, indices)
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main(sys.argv[1:])
