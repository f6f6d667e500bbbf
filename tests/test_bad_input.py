"""Every row of the bad-input table: non-zero exit, one line naming the problem, no traceback, nothing lost.

The cases are independent launch.py processes, so they run concurrently (one per core) before the checks."""

import concurrent.futures
import os

import pytest

from tests.bad_inputs import CASES, run_case

# every test here spawns processes; one xdist worker runs them all (`--dist loadgroup`), so the processes start once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bad_input")]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
  folders = {case.id: str(tmp_path_factory.mktemp(case.id)) for case in CASES}
  serial = [c for c in CASES if c.id == "workdir_in_use"]  # holds a lock in this process while it runs
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    futures = {c.id: pool.submit(run_case, c, folders[c.id]) for c in CASES if c not in serial}
    results = {case_id: future.result() for case_id, future in futures.items()}
  results.update({c.id: run_case(c, folders[c.id]) for c in serial})
  return {case_id: (results[case_id], folders[case_id]) for case_id in results}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case, outcomes):
  result, folder = outcomes[case.id]
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr, result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, result.stderr
  assert result.stderr.strip().splitlines()[-1] == errors[0]
  assert case.expected in errors[0], errors[0]
  with open(os.path.join(folder, "work", "keep.txt")) as f:
    assert f.read() == "precious"
  if case.id not in ("workdir_other_config", "workdir_old_version"):  # their setup wrote one
    assert not os.path.exists(os.path.join(folder, "work", "results.json"))
