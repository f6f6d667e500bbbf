"""Every field of every config in configs/ has a declared constraint, and every field set to an out-of-range or
nonsense value is either accepted or refused with one UserError by the validator, never another exception. In
process, through the same path as launch.py (config.load's checks on an override); tests/test_bad_input.py runs
a handful of these through launch.py and checks that nothing is written."""

import glob
import importlib.util
import inspect
import os

import ml_collections
import pytest

from jaxshort import config as config_lib
from jaxshort import constraints
from jaxshort.errors import UserError
from tests.conftest import REPO

HUGE = {int: 10 ** 12, float: 1e12}


def config_specs() -> list[str]:
  """Every config file in configs/ ('path.py'), and each argument of a file whose get_config takes one
  ('path.py:argument', from the file's ARGUMENTS)."""
  specs = []
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.py"), recursive=True)):
    if os.path.basename(path).startswith("_"):
      continue
    module_spec = importlib.util.spec_from_file_location(f"spec_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if inspect.signature(module.get_config).parameters:
      assert hasattr(module, "ARGUMENTS"), f"{path}: get_config takes an argument, so list them in ARGUMENTS"
      specs += [f"{path}:{argument}" for argument in module.ARGUMENTS]
    else:
      specs.append(path)
  return specs


SPECS = config_specs()


def trial_values(value) -> list[str]:
  """The override texts tried for a field holding `value`: -1, 0 and a huge number for a number, a nonsense
  word for a string, a word for a bool, a nonsense word and (-1,) for a tuple."""
  if isinstance(value, bool):
    return ["maybe"]
  if isinstance(value, (int, float)):
    return ["-1", "0", repr(HUGE[type(value)])]
  if isinstance(value, str):
    return ["nonsense"]
  if isinstance(value, (tuple, list)):
    return ["nonsense", "(-1,)", "()"]
  return []


def test_the_configs_are_all_found():
  names = {os.path.relpath(s, REPO) for s in SPECS}
  assert {"configs/erm_cmnist.py", "configs/default.py", "configs/localize/study_cpu.py",
          "configs/localize/gpu_scale.py:celeba,deit_s", "configs/datasets.py:camelyon17"} <= names
  assert len(SPECS) >= 30


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: os.path.relpath(s, REPO))
def test_every_field_has_a_constraint_and_every_value_is_accepted_or_refused_in_one_line(spec):
  path = config_lib.split_spec(spec)[0]
  config = config_lib.load(spec)
  rules = config_lib.field_rules(config)
  missing = [field for field, rule in rules.items() if rule is None]
  assert not missing, f"{spec}: fields without a declared constraint: {missing}"
  tried = refused = 0
  for field in rules:
    if field.split(".")[-1] == "sweep" or ".sweep." in field or field.startswith("sweep"):
      continue  # a sweep's grid: its jobs are configs of their own, checked as they are made (sweep.py)
    for text in trial_values(config_lib.field_value(config, field)):
      tried += 1
      try:
        config_lib.load(spec, [f"{field}={text}"])
      except UserError as error:
        refused += 1
        assert "\n" not in str(error), (field, text, str(error))
      except Exception as error:  # pylint: disable=broad-except
        pytest.fail(f"{spec}: --config.{field}={text} raised {type(error).__name__}: {error}")
  assert tried and refused, (tried, refused)
  del path


def test_the_rules_say_what_they_allow():
  assert constraints.integer(1).problem(0) == "an int >= 1"
  assert constraints.integer(1).problem(3) is None and constraints.integer(1).problem(True) == "an int >= 1"
  assert constraints.number(0, 1, high_open=True).problem(1.0) == "a number >= 0 and < 1"
  assert constraints.number(0).problem(float("nan")) == "a number >= 0"
  assert constraints.choice("a", "b").problem("c") == "one of 'a', 'b'"
  assert constraints.choice(14, 28).problem(14.0) is not None  # the type counts
  assert constraints.sequence(constraints.integer(1), length=3).problem((1, 2)) is not None
  assert constraints.sequence(constraints.integer(1), min_length=1).problem(()) is not None
  assert constraints.sequence(constraints.integer(1)).problem((1, 0)) is not None


def test_a_field_without_a_constraint_is_refused(monkeypatch):
  monkeypatch.delitem(config_lib.RUN_RULES, "log_every_steps")
  with pytest.raises(UserError, match="log_every_steps .* has no declared constraint"):
    config_lib.load(os.path.join(REPO, "configs", "erm_cmnist.py"))


def test_ties_between_fields_and_sitar_combinations_are_refused():
  erm = os.path.join(REPO, "configs", "erm_cmnist.py")
  with pytest.raises(UserError, match="optimizer.warmup_steps must be at most num_steps"):
    config_lib.load(erm, ["optimizer.warmup_steps=2000"])
  with pytest.raises(UserError, match="embed_dim must be a multiple of num_heads"):
    config_lib.load(erm, ["model.name=deit_ti", "model.embed_dim=10", "model.num_heads=3"])
  with pytest.raises(UserError, match="noise='batch' applies to"):
    config_lib.load(os.path.join(REPO, "configs", "sitar", "colored_mnist.py"),
                    ["sitar.noise=batch", "sitar.method=penalty_exact"])


def test_the_checks_on_the_built_data():
  config = ml_collections.ConfigDict({"batch_size": 64, "eval_batch_size": 100})
  config_lib.check_against_data(config, {"train": 64, "test": 10}, ["train"], 2)
  with pytest.raises(UserError, match="batch_size=64 .* at most the 63 examples of the training split 'train'"):
    config_lib.check_against_data(config, {"train": 63}, ["train"], 1)
  with pytest.raises(UserError, match="eval_batch_size=100 .* multiple of the 3 devices"):
    config_lib.check_against_data(ml_collections.ConfigDict({"batch_size": 3, "eval_batch_size": 100}),
                                  {"train": 64}, ["train"], 3)
  with pytest.raises(UserError, match="split test is empty"):
    config_lib.check_against_data(config, {"train": 64, "test": 0}, ["train"], 1)
