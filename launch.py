"""Runs one jaxshort config into a workdir.

    python launch.py                                     # configs/default.py into runs/default-<time>
    python launch.py --config configs/x.py --config.seed=3 --workdir runs/x3

All logic lives in the library (jaxshort.experiments); this file only reads the config and hands it on. A
mistake in the input (an unknown config field, a bad value, a missing dataset file) is one line on stderr and
exit code 2; a run started again on the same workdir resumes from its last checkpoint.
"""

import os
import re
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

def fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py")


def config_argument(argv: list[str]) -> str:
  """The value of --config in `argv`, or the default config's path."""
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      return arg.split("=", 1)[1]
    if arg == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return DEFAULT_CONFIG


def config_error_message(error: Exception, argv: list[str], path: str) -> str:
  """One line for a config that fails to load or to take an override; names the field where it can."""
  text = str(error).encode().decode("unicode_escape")
  if isinstance(error, (AttributeError, KeyError)):
    found = re.search(r"'(\w+)'", text)
    name = found.group(1) if found else text
    bad = [a.split("=")[0] for a in argv if a.startswith("--config.") and name in a.split("=")[0].split(".")]
    hint = re.search(r'Did you mean "(\w+)"', text)
    return (f"unknown config field {bad[0] if bad else name}: {path} has no field {name!r}"
            + (f"; did you mean {hint.group(1)!r}?" if hint else f"; see get_config() in {path}"))
  first_line = text.splitlines()[0] if text else ""
  return f"cannot load config {path}: {type(error).__name__}: {first_line}"


def define_flags(argv: list[str]):
  """Defines --config (which reads the file and applies --config.x overrides at once), --workdir, --overwrite."""
  path = config_argument(argv).split(":", 1)[0]
  if not os.path.isfile(path):
    fail(f"config file {path!r} not found; pass --config configs/<name>.py (see configs/)")
  try:
    config = config_flags.DEFINE_config_file("config", DEFAULT_CONFIG, "Path to a config file with get_config().",
                                             lock_config=True)
  except Exception as error:  # pylint: disable=broad-except
    fail(config_error_message(error, argv, path))
  flags.DEFINE_string("workdir", None, "Where the run writes; default runs/<config>-<time>.")
  flags.DEFINE_bool("overwrite", False, "Reuse a workdir that holds a run of another config.")
  return config


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with every error as one line and exit code 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    fail(str(error).splitlines()[0])
  except Exception as error:  # a config that fails to load or to take an override  pylint: disable=broad-except
    fail(config_error_message(error, argv, config_argument(argv).split(":", 1)[0]))


def default_workdir(config_path: str) -> str:
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; set config fields with --config.field=value")
  config = flags.FLAGS.config
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax and tfds log every step of a save at INFO
  from jaxshort.errors import UserError  # pylint: disable=g-import-not-at-top
  from jaxshort.training import sharding  # pylint: disable=g-import-not-at-top
  try:
    sharding.setup_devices(config.get("num_cpu_devices", 0), config.get("distributed", "auto"))
    from jaxshort import experiments  # pylint: disable=g-import-not-at-top
    workdir = flags.FLAGS.workdir or default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
    print(f"jaxshort: {config.experiment} -> {workdir}", file=sys.stderr)
    results = experiments.run_in_workdir(config, workdir, overwrite=flags.FLAGS.overwrite)
  except UserError as error:
    fail(str(error))
  summary = results.get("summary", {})
  print("\n".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()))
  print(f"results: {os.path.join(workdir, 'results.json')}")


if __name__ == "__main__":
  define_flags(sys.argv)
  app.run(main, flags_parser=parse_flags)
