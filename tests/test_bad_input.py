"""Every row of the bad-input table: non-zero exit, one line naming the problem, no traceback, nothing lost.

The cases are independent launch.py processes, so they run concurrently (one per core) in one test, which names
every case that fails (one test, so that one test worker starts the processes once)."""

import concurrent.futures
import os

import pytest

from tests.bad_inputs import CASES, run_case

pytestmark = pytest.mark.slow  # spawns processes


def problems_of(case, result, folder) -> list[str]:
  """What is wrong with one case's outcome; [] if nothing."""
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  checks = [
      (result.returncode == 2, f"exit code {result.returncode}, not 2"),
      ("Traceback" not in result.stderr, "a traceback"),
      (len(errors) == 1, f"{len(errors)} error: lines"),
      (bool(errors) and result.stderr.strip().splitlines()[-1] == errors[0], "the error: line is not the last"),
      (bool(errors) and case.expected in errors[0], f"the error: line lacks {case.expected!r}"),
  ]
  with open(os.path.join(folder, "work", "keep.txt")) as f:
    checks.append((f.read() == "precious", "the workdir's keep.txt changed"))
  if case.writes_nothing:
    written = sorted(set(os.listdir(os.path.join(folder, "work"))) - {"keep.txt"})
    checks.append((not written, f"refused, yet wrote {written} into the workdir"))
  if case.id not in ("workdir_other_config", "workdir_old_version"):  # their setup wrote one
    checks.append((not os.path.exists(os.path.join(folder, "work", "results.json")), "results.json written"))
  return [message for passed, message in checks if not passed]


def test_every_bad_input_is_one_clear_line(tmp_path_factory):
  folders = {case.id: str(tmp_path_factory.mktemp(case.id)) for case in CASES}
  serial = [c for c in CASES if c.id == "workdir_in_use"]  # holds a lock in this process while it runs
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    futures = {c.id: pool.submit(run_case, c, folders[c.id]) for c in CASES if c not in serial}
    results = {case_id: future.result() for case_id, future in futures.items()}
  results.update({c.id: run_case(c, folders[c.id]) for c in serial})
  failures = {case.id: (problems, results[case.id].stderr) for case in CASES
              if (problems := problems_of(case, results[case.id], folders[case.id]))}
  assert not failures, "\n".join(f"{case_id}: {'; '.join(problems)}\n{stderr}"
                                  for case_id, (problems, stderr) in failures.items())
  assert len(results) == len(CASES)
