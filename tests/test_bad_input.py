"""Every row of the bad-input table: non-zero exit, one line naming the problem, no traceback, nothing lost."""

import os

import pytest

from tests.bad_inputs import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case, tmp_path):
  result = run_case(case, str(tmp_path))
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr, result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, result.stderr
  assert result.stderr.strip().splitlines()[-1] == errors[0]
  assert case.expected in errors[0], errors[0]
  keep = tmp_path / "work" / "keep.txt"
  assert keep.read_text() == "precious"
  assert not os.path.exists(tmp_path / "work" / "results.json") or case.id == "workdir_other_config"
