"""Shortcut-mitigation methods by name, all on the same backbone, data and training loop (`common.fit`).

A method is `method(config, dataset, run_dir, erm_dir) -> (state, info)`: it trains into `run_dir` (DFR and
ERM into `erm_dir`, so that DFR reuses the ERM run of the same seed) and returns the selected state, whose
`apply_fn` gives test logits, and a JSON-ready dict about the run. `USES_GROUP_LABELS` names the methods that
need group labels beyond building the splits; `uses_group_labels` says where a run uses them, its selection rule
included.
"""

from jaxshort.methods.classifier import dfr, erm, group_dro, jtt
from jaxshort.methods.lff import lff
from jaxshort.methods.vae import chroma_vae, sitar
from jaxshort.registry import Registry

METHODS: Registry = Registry("method")
for _name, _method in [("erm", erm), ("jtt", jtt), ("lff", lff), ("chroma_vae", chroma_vae), ("sitar", sitar),
                       ("group_dro", group_dro), ("dfr", dfr)]:
  METHODS.register(_name)(_method)

# The methods that use group labels beyond building the splits, and where.
USES_GROUP_LABELS = {"group_dro": "train + val", "dfr": "val", "jtt": "val"}


def uses_group_labels(method: str, selection: str) -> str:
  """Where a run of `method` with model selection `selection` uses group labels: 'no', 'val' or 'train + val'.
  Selection by worst-group validation accuracy ('best_worst_group') uses the validation split's."""
  where = USES_GROUP_LABELS.get(method, "no")
  return "val" if where == "no" and selection == "best_worst_group" else where


__all__ = ["METHODS", "USES_GROUP_LABELS", "uses_group_labels"]
