"""Errors that are the user's to fix.

A `UserError` is printed by the launcher as one line (no traceback) and ends the run with exit code 2. Raise it
for anything a user can fix: a bad config value, a missing dataset file, an unusable workdir. Its message names
the problem and the fix.
"""


class UserError(Exception):
  """A problem with the user's input, reported as one clear line."""


def require(condition: bool, message: str) -> None:
  """Raises `UserError(message)` unless `condition` holds."""
  if not condition:
    raise UserError(message)


class NonFiniteError(UserError):
  """Training produced NaN or inf; the message names the step. The last good checkpoint is kept."""
