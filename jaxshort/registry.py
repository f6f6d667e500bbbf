"""Name -> factory registries, so that configs name datasets, models and experiments by string."""

from typing import Callable, Generic, TypeVar

from jaxshort.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
  """A named collection of factories: `@REGISTRY.register("name")` and `REGISTRY.get("name")`."""

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(factory: T) -> T:
      if name in self._entries:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = factory
      return factory
    return decorator

  def get(self, name: str) -> T:
    if name not in self._entries:
      known = ", ".join(sorted(self._entries))
      raise UserError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
    return self._entries[name]

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries
