"""Runs one jaxshort config into a workdir.

    python launch.py                                     # configs/default.py into runs/default-<time>
    python launch.py --config configs/x.py --config.seed=3 --workdir runs/x3

All logic lives in the library (jaxshort.experiments); this file only reads the config and hands it on. A
mistake in the input (an unknown config field, a bad value, a missing dataset file) is one line on stderr and
exit code 2; a run started again on the same workdir resumes from its last checkpoint.
"""

import os
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                 "configs", "default.py"),
                                          "Path to a config file with get_config().", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the run writes; default runs/<config>-<time>.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Reuse a workdir that holds a run of another config.")


def fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with every error as one line and exit code 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    fail(str(error).splitlines()[0])
  except Exception as error:  # config files that fail to load or apply an override  pylint: disable=broad-except
    fail(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")


def default_workdir(config_path: str) -> str:
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; set config fields with --config.field=value")
  config = _CONFIG.value
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every step of a save at INFO
  from jaxshort.errors import UserError  # pylint: disable=g-import-not-at-top
  from jaxshort.training import sharding  # pylint: disable=g-import-not-at-top
  try:
    sharding.configure_cpu_devices(config.get("num_cpu_devices", 0))
    from jaxshort import experiments  # pylint: disable=g-import-not-at-top
    from jaxshort.training.workdir import prepare_workdir  # pylint: disable=g-import-not-at-top
    workdir = _WORKDIR.value or default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
    prepare_workdir(workdir, config, overwrite=_OVERWRITE.value)
    print(f"jaxshort: {config.experiment} -> {workdir}", file=sys.stderr)
    results = experiments.run(config, workdir)
  except UserError as error:
    fail(str(error))
  summary = results.get("summary", {})
  print("\n".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()))
  print(f"results: {os.path.join(workdir, 'results.json')}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
