"""A periodic progress line for long runs: step, percent, throughput, ETA and the latest metrics."""

import sys
import time


class Progress:
  """Prints at most one line every `every_seconds` (and at the last step) to stderr."""

  def __init__(self, total_steps: int, start_step: int = 0, every_seconds: float = 5.0, name: str = "train",
               stream=None):
    self.total, self.start, self.every, self.name = total_steps, start_step, every_seconds, name
    self.stream = stream or sys.stderr
    self.t0 = self.last = time.perf_counter()

  def update(self, step: int, metrics: dict | None = None, force: bool = False) -> None:
    """Reports that `step` steps are done; `metrics` are floats to show."""
    now = time.perf_counter()
    if not force and now - self.last < self.every and step < self.total:
      return
    self.last = now
    done = step - self.start
    rate = done / max(now - self.t0, 1e-9)
    eta = (self.total - step) / rate if rate > 0 else float("inf")
    shown = " ".join(f"{k} {v:.4g}" for k, v in (metrics or {}).items())
    eta_text = f"{eta:.0f}s" if eta != float("inf") else "?"
    print(f"[{self.name}] step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%) "
          f"{rate:.1f} steps/s eta {eta_text} {shown}".rstrip(), file=self.stream, flush=True)
