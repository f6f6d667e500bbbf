"""One run per workdir: an exclusive lock on `<workdir>/.lock`, released by the OS when the process ends, even by
SIGKILL, so a crashed run never leaves a stale lock behind."""

import fcntl
import os

from jaxshort.errors import UserError


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds the workdir for this process or raises UserError if another holds it."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, ".lock")
    self.file = None

  def __enter__(self) -> "WorkdirLock":
    self.file = open(self.path, "a+")
    try:
      fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self.file.seek(0)
      holder = self.file.read().strip() or "another process"
      self.file.close()
      raise UserError(f"workdir {os.path.dirname(self.path)!r} is in use by a running run ({holder}); wait for "
                      f"it to end or pass another --workdir") from None
    self.file.seek(0)
    self.file.truncate()
    self.file.write(f"pid {os.getpid()}")
    self.file.flush()
    return self

  def __exit__(self, *exc) -> None:
    fcntl.flock(self.file, fcntl.LOCK_UN)
    self.file.close()
