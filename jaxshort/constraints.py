"""What a config field may hold: a type with a range, a set of choices, or a tuple of such items. Declared
beside each field's default (the run fields in jaxshort/config.py, a dataset's in its module beside
`default_config()`, a model's on its class as `FIELD_RULES`) and read by one validator, `config.validate`.

    FIELD_RULES = {"batch_size": integer(1), "label_flip": number(0, 1), "source": choice("auto", "files"),
                   "widths": sequence(integer(1), min_length=1), "data_dir": text()}

A rule's `problem(value)` is None when the value fits, else what is allowed ("an int >= 1"). Bounds are those a
field has by its meaning (a probability, a size); a field without one is left open. A `Relation` ties fields of
one section together (`relation(("embed_dim", "num_heads"), lambda e, h: e % h == 0, "...")`); it is checked once
each field fits its own rule.
"""

import dataclasses
import numbers
from typing import Any, Callable

KINDS = ("int", "float", "str", "bool", "choice", "sequence", "any")


@dataclasses.dataclass(frozen=True)
class Rule:
  """See the module docstring; build one with `integer`, `number`, `text`, `boolean`, `choice`, `sequence` or
  `anything`."""
  kind: str
  low: float | None = None
  high: float | None = None
  low_open: bool = False      # low itself refused
  high_open: bool = False     # high itself refused
  choices: tuple = ()
  item: "Rule | None" = None  # a sequence's items
  min_length: int = 0
  length: int | None = None   # a sequence's exact length
  what: str = ""              # `anything`: what the field holds, checked where it is read

  def describe(self) -> str:
    """What the rule allows, in words."""
    if self.kind == "choice":
      return "one of " + ", ".join(repr(c) for c in self.choices)
    if self.kind == "sequence":
      count = self.length if self.length is not None else self.min_length
      size = "" if not count else f"{count} " if self.length is not None else f"at least {count} "
      return f"a tuple of {size}item{'' if count == 1 else 's'}, each {self.item.describe()}"
    if self.kind == "any":
      return self.what
    name = {"int": "an int", "float": "a number", "str": "a string", "bool": "true or false"}[self.kind]
    shown = lambda bound: str(bound) if isinstance(bound, int) else f"{bound:g}"
    bounds = []
    if self.low is not None:
      bounds.append(f"{'>' if self.low_open else '>='} {shown(self.low)}")
    if self.high is not None:
      bounds.append(f"{'<' if self.high_open else '<='} {shown(self.high)}")
    return f"{name} {' and '.join(bounds)}".strip()

  def problem(self, value: Any) -> str | None:
    """None if `value` fits the rule, else `describe()`."""
    return None if self.fits(value) else self.describe()

  def fits(self, value: Any) -> bool:
    if self.kind == "any":
      return True
    if self.kind == "choice":
      return any(value == c and type(value) is type(c) for c in self.choices)
    if self.kind == "bool":
      return isinstance(value, bool)
    if self.kind == "str":
      return isinstance(value, str)
    if self.kind == "sequence":
      if not isinstance(value, (tuple, list)) or len(value) < self.min_length:
        return False
      return (self.length is None or len(value) == self.length) and all(self.item.fits(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      return False
    if self.kind == "int" and not isinstance(value, numbers.Integral):
      return False
    if value != value:  # NaN
      return False
    if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
      return False
    return self.high is None or not (value > self.high or (self.high_open and value == self.high))


def integer(low: int | None = None, high: int | None = None) -> Rule:
  """An int in [low, high] (either end open when None)."""
  return Rule("int", low, high)


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Rule:
  """A number (an int is taken too) in [low, high]; `low_open`/`high_open` refuse the end itself."""
  return Rule("float", low, high, low_open, high_open)


def text() -> Rule:
  """Any string (a path, a name checked where it is read)."""
  return Rule("str")


def boolean() -> Rule:
  return Rule("bool")


def choice(*choices) -> Rule:
  """One of `choices`, of the same type."""
  return Rule("choice", choices=tuple(choices))


def sequence(item: Rule, min_length: int = 0, length: int | None = None) -> Rule:
  """A tuple (or list) of items that each fit `item`."""
  return Rule("sequence", item=item, min_length=min_length, length=length)


def anything(what: str) -> Rule:
  """A field whose structure its reader checks (a sweep's cases, compare's variants); `what` says what it holds."""
  return Rule("any", what=what)


@dataclasses.dataclass(frozen=True)
class Relation:
  """`holds(*values of fields)` must be true; `what` says what it asks, in words."""
  fields: tuple[str, ...]
  holds: Callable[..., bool]
  what: str


def relation(fields: tuple[str, ...], holds: Callable[..., bool], what: str) -> Relation:
  return Relation(tuple(fields), holds, what)


PROBABILITY = number(0, 1)
POSITIVE = number(0, low_open=True)
NON_NEGATIVE = number(0)
