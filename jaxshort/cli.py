"""What every command shares (launch.py, python -m jaxshort.sweep, jaxshort.data.inspect,
jaxshort.localization.axes): absl flags, `--config.x=value` overrides taken from the arguments, and every
mistake as one `error:` line with exit code 2. A command module, so an entry point: the top layer."""

import sys
from typing import Callable

from absl import app, flags

from jaxshort import config as config_lib
from jaxshort.errors import UserError


def fail(message: str) -> None:
  """Prints `error: message` on stderr and exits with code 2."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with a flag error as one line and exit code 2."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    fail(str(error).splitlines()[0])


def run(main: Callable[[list[str], list[str]], None]) -> None:
  """Runs `main(argv, overrides)` under absl: the `--config.a.b=value` arguments are taken out of sys.argv first
  (as 'a.b=value', for jaxshort.config.load), the rest are absl's flags; a UserError is one line, exit 2."""
  try:
    overrides, rest = config_lib.split_overrides(sys.argv[1:])
  except UserError as error:
    fail(str(error))
  sys.argv = sys.argv[:1] + rest

  def main_with_errors(argv: list[str]) -> None:
    try:
      main(argv, overrides)
    except UserError as error:
      fail(str(error))

  app.run(main_with_errors, flags_parser=parse_flags)
