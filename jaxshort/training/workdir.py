"""Everything a run writes: the workdir, config.json, metrics.jsonl, results.json. Files are written atomically
(write, then rename), so a killed run never leaves a half-written file."""

import json
import os
import tempfile
import time
from typing import Any

import ml_collections
import numpy as np

from jaxshort.errors import UserError

# Version of the workdir's layout (config.json, checkpoints, results.json). 2 since the train state also carries
# the method's state: a workdir written by an earlier version does not resume.
SCHEMA_VERSION = 2


def _jsonable(value: Any) -> Any:
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.ndarray):
    return _jsonable(value.tolist())
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def is_primary() -> bool:
  """Whether this process writes the run's files (process 0 of a multi-host run; always on one host)."""
  import jax  # pylint: disable=g-import-not-at-top
  return jax.process_index() == 0


def write_json(path: str, obj: Any) -> None:
  """Writes `obj` as indented JSON to `path` atomically; numpy values become plain numbers, NaN null.
  Only the primary process writes."""
  if not is_primary():
    return
  directory = os.path.dirname(path) or "."
  with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
    json.dump(_jsonable(obj), f, indent=2, sort_keys=False)
    f.write("\n")
  os.replace(f.name, path)


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def config_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def ensure_writable(workdir: str) -> None:
  """Creates `workdir` if needed; UserError if it cannot be written."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=workdir):
      pass
  except OSError as error:
    raise UserError(f"cannot write to workdir {workdir!r} ({error.strerror}); pass a writable --workdir") from None


# Config fields added after SCHEMA_VERSION 2 was fixed, with the value that reproduces an earlier run: a run
# written without them resumes.
ADDED_FIELDS = {"data_placement": "auto"}


def check_config(workdir: str, config: ml_collections.ConfigDict, overwrite: bool = False) -> None:
  """Writes config.json into `workdir`. A workdir whose run (checkpoints or results) was made with another config
  is refused, or with `overwrite` moved aside into `workdir/overwritten-<time>/` (nothing is deleted)."""
  path = os.path.join(workdir, "config.json")
  new = {"schema_version": SCHEMA_VERSION, **config_dict(config)}
  if os.path.exists(path) and has_progress(workdir):
    try:
      old = read_json(path)
    except (OSError, ValueError):
      old = None
    if isinstance(old, dict) and old.get("schema_version") != SCHEMA_VERSION and not overwrite:
      raise UserError(f"workdir {workdir!r} holds a run written by an earlier version of jaxshort (workdir schema "
                      f"{old.get('schema_version', 1)}, now {SCHEMA_VERSION}), which does not resume; pass a new "
                      f"--workdir, or --overwrite to move that run aside and start afresh")
    if isinstance(old, dict):  # fields added since that run was written, at their defaults, change nothing
      old = {**{k: v for k, v in ADDED_FIELDS.items() if k in new}, **old}
    if old != new:
      changed = sorted(_differences(old, new)) if isinstance(old, dict) else ["(unreadable config.json)"]
      if not overwrite:
        raise UserError(f"workdir {workdir!r} holds a run with another config (differs in {', '.join(changed)}); "
                        f"pass a new --workdir, or --overwrite to move that run aside and start afresh")
      move_aside(workdir)
  write_json(path, new)


def move_aside(workdir: str) -> str:
  """Moves everything in `workdir` (but the lock and earlier moved-aside runs) into a new `overwritten-<time>/`."""
  target = os.path.join(workdir, time.strftime("overwritten-%Y%m%d-%H%M%S"))
  os.makedirs(target)
  for name in os.listdir(workdir):
    if name != ".lock" and not name.startswith("overwritten-"):
      os.replace(os.path.join(workdir, name), os.path.join(target, name))
  return target


def has_progress(workdir: str) -> bool:
  """Whether `workdir` holds results or checkpoints, anywhere below it (experiments may nest runs)."""
  for root, dirs, files in os.walk(workdir):
    dirs[:] = [d for d in dirs if not d.startswith("overwritten-")]
    if "results.json" in files or ("checkpoints" in dirs and os.listdir(os.path.join(root, "checkpoints"))):
      return True
  return False


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
  if isinstance(old, dict) and isinstance(new, dict):
    out = []
    for key in sorted(set(old) | set(new)):
      out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    return out
  return [] if old == new else [prefix.rstrip(".")]


class MetricsLog:
  """metrics.jsonl: one JSON object per line, each with `step` and `split`."""

  def __init__(self, path: str):
    self.path = path

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not is_primary():
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(_jsonable({"step": int(step), "split": split, **metrics})) + "\n")

  def read(self) -> list[dict]:
    if not os.path.exists(self.path):
      return []
    with open(self.path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def truncate_after(self, step: int) -> None:
    """Drops records of steps after `step` (logged by a run that was killed before its next checkpoint)."""
    if not is_primary():
      return
    kept = [r for r in self.read() if r["step"] <= step]
    directory = os.path.dirname(self.path) or "."
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(f.name, self.path)
