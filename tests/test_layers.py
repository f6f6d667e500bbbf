"""The package's layers (README, Layout): each module imports only modules of lower layers (or of its own
package), at the top of the file, and no two modules import each other. Read from the source; nothing runs."""

import ast
import os

from tests.conftest import REPO

# Lowest first. A command run with `python -m` is an entry point, the top layer, wherever its file sits.
LAYERS = (
    ("jaxshort", "jaxshort.errors", "jaxshort.constraints"),
    ("jaxshort.registry",),
    ("jaxshort.data", "jaxshort.models"),
    ("jaxshort.sitar",),
    ("jaxshort.config",),
    ("jaxshort.training",),
    ("jaxshort.methods", "jaxshort.localization"),
    ("jaxshort.report",),
    ("jaxshort.experiments",),
)
ENTRY_POINTS = ("jaxshort.cli", "jaxshort.sweep", "jaxshort.data.inspect", "jaxshort.localization.axes",
               "jaxshort.localization.study")


def modules() -> dict[str, str]:
  """{dotted module name: path} of every module of the package."""
  found = {}
  for folder, _, names in os.walk(os.path.join(REPO, "jaxshort")):
    for name in names:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
        found[dotted.removesuffix(".__init__")] = path
  return found


def group(module: str) -> str:
  """The layer group a module belongs to: its entry in LAYERS that is the longest prefix of its name."""
  if module in ENTRY_POINTS:
    return "entry"
  names = [name for layer in LAYERS for name in layer if module == name or module.startswith(name + ".")]
  return max(names, key=len)


def rank(module: str) -> int:
  name = group(module)
  return len(LAYERS) if name == "entry" else next(i for i, layer in enumerate(LAYERS) if name in layer)


def imports(path: str, known: dict) -> tuple[list[str], list[str]]:
  """(jaxshort modules imported at module level, those imported inside a function) of the file at `path`;
  `from jaxshort import data` counts as an import of jaxshort.data."""
  tree = ast.parse(open(path, encoding="utf-8").read())
  functions = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
  inside = {id(node) for f in functions for node in ast.walk(f)}
  top, hidden = [], []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxshort"):
      names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names]
    else:
      continue
    names = [n for n in names if n.startswith("jaxshort")]
    (hidden if id(node) in inside else top).extend(names)
  return top, hidden


def resolve(name: str, known: dict) -> str:
  while name not in known:
    name = name.rpartition(".")[0]
  return name


def test_every_module_has_a_layer():
  for module in modules():
    assert group(module), module


def test_no_import_goes_up_a_layer_or_hides_in_a_function():
  known = modules()
  upward, hidden_imports = [], []
  for module, path in known.items():
    top, hidden = imports(path, known)
    hidden_imports += [f"{module} -> {name}" for name in hidden]
    for name in top:
      target = resolve(name, known)
      if target == "jaxshort" or group(target) == group(module):
        continue  # the package's own docstring module, or within one group (cycles: the test below)
      if rank(target) >= rank(module):
        upward.append(f"{module} ({group(module)}) imports {target} ({group(target)})")
  assert not upward, upward
  assert not hidden_imports, hidden_imports


def test_sitar_holds_only_mathematics():
  """sitar/ imports nothing above the models: scores, loss, penalty and the latent diagnostics only."""
  known = modules()
  sitar = [m for m in known if m.startswith("jaxshort.sitar")]
  assert {m.rsplit(".", 1)[-1] for m in sitar} == {"sitar", "scores", "loss", "penalty", "diagnostics"}
  for module in sitar:
    for name in imports(known[module], known)[0]:
      target = resolve(name, known)
      assert target.startswith("jaxshort.sitar") or rank(target) <= rank("jaxshort.models"), (module, name)


def test_no_two_modules_import_each_other():
  """No cycle in the module-level import graph (a package's __init__ re-exporting its own modules aside)."""
  known = modules()
  edges = {m: {resolve(n, known) for n in imports(p, known)[0]} - {m} for m, p in known.items()}

  def reaches(start, goal, seen):
    for nxt in edges[start]:
      if nxt == goal:
        return True
      if nxt not in seen:
        seen.add(nxt)
        if reaches(nxt, goal, seen):
          return True
    return False

  cycles = [(a, b) for a in known for b in edges[a]
            if not (b.startswith(a + ".") or a.startswith(b + ".")) and reaches(b, a, {b})]
  assert not cycles, cycles
