"""End-to-end cost of the default run: wall time and peak memory of `python launch.py` (configs/default.py, the
suite) into a fresh temporary workdir.

    python benchmarks/launch_default.py [--repeats 1] [-- --config.erm.num_steps=200 ...]

Each repeat is a fresh process into a fresh workdir (nothing resumed); arguments after `--` go to launch.py.
Peak memory is the largest resident set of a child process (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss).
Prints each repeat, the median wall time and the machine load next to it.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load() -> str:
  with open("/proc/loadavg", encoding="utf-8") as f:
    return " ".join(f.read().split()[:3])


def run_once(extra: list[str]) -> float:
  """Seconds of one `python launch.py` into a new temporary workdir; raises if it fails."""
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(REPO, "launch.py"), "--workdir", os.path.join(workdir, "run"),
                    *extra], cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=1)
  parser.add_argument("launch_args", nargs="*", help="after --: arguments for launch.py")
  args = parser.parse_args()
  print(f"{os.cpu_count()} CPUs; python launch.py {' '.join(args.launch_args)}")
  seconds = []
  for i in range(args.repeats):
    before = load()
    seconds.append(run_once(args.launch_args))
    print(f"  run {i + 1}: {seconds[-1]:.1f} s (load before {before}, after {load()})", flush=True)
  peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
  print(f"median wall time {statistics.median(seconds):.1f} s; peak resident memory {peak_mib:.0f} MiB")


if __name__ == "__main__":
  main()
