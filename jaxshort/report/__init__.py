"""Figures and tables written into the workdir."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxshort.training.workdir import is_primary  # pylint: disable=g-import-not-at-top,wrong-import-position


def save(fig, path: str, dpi: int = 110) -> None:
  """Writes `fig` to `path` (on process 0 only: in a multi-process run the others draw but do not write), then
  closes it."""
  if is_primary():
    fig.savefig(path, dpi=dpi)
  plt.close(fig)
