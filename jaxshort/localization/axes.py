"""The principal-axes command: gathers many localize runs' profiles, resamples, normalizes, and runs a PCA.

    python -m jaxshort.localization.axes --results 'runs/*/results.json' --out runs/axes

Writes OUT/axes.json (runs, grid, explained variance, loadings, scores) and OUT/axes.png (the runs on the first
two axes, and the loadings of each axis over relative depth). See pca.py for the resampling and normalization,
and for `--noise_rule`: by default a series within its run's replicate spread counts as zeros and a run with
every series within it is left out; the command names both.
A command, so an entry point: it may import any layer.
"""

import os

from absl import flags

from jaxshort import cli
from jaxshort.localization.pca import NOISE_RULES, gather, principal_axes
from jaxshort.report.localization_figures import plot_axes
from jaxshort.training.workdir import write_json

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined when it runs, so that importing this module defines none)."""
  flags.DEFINE_multi_string("results", None, "Glob of results.json files; repeatable.")
  flags.DEFINE_string("out", None, "Folder for axes.json and axes.png.")
  flags.DEFINE_integer("grid", 8, "Relative-depth grid points per series.")
  flags.DEFINE_integer("components", 3, "Principal axes to keep.")
  flags.DEFINE_enum("noise_rule", "leave_out", list(NOISE_RULES),
                    "leave_out: series within the replicate spread count as zeros, runs with every series within it "
                    "are left out; keep: every run and series as measured.")


def main(argv: list[str], overrides: list[str]) -> None:
  if len(argv) > 1 or overrides:
    cli.fail(f"unexpected arguments {argv[1:] + overrides}")
  if not FLAGS.results or not FLAGS.out:
    cli.fail("--results (a glob of results.json files) and --out (a folder) are required")
  runs = gather(FLAGS.results)
  if len(runs) < 2:
    cli.fail(f"need at least 2 localize results, found {len(runs)} for {FLAGS.results}")
  os.makedirs(FLAGS.out, exist_ok=True)
  try:
    axes = principal_axes(runs, FLAGS.grid, FLAGS.components, FLAGS.noise_rule)
  except ValueError as error:
    cli.fail(str(error))
  write_json(os.path.join(FLAGS.out, "axes.json"), axes)
  plot_axes(axes, os.path.join(FLAGS.out, "axes.png"))
  for run in axes["left_out"]:
    print(f"left out: {run['path']}: {run['reason']}")
  for run in axes["runs"]:
    if run["zeroed_series"]:
      print(f"zeroed: {run['path']}: {', '.join(run['zeroed_series'])} within the replicate spread")
  ratio = ", ".join(f"{r:.3f}" for r in axes["explained_variance_ratio"])
  print(f"{len(axes['runs'])} of {len(runs)} runs (noise_rule {FLAGS.noise_rule}); explained variance ratio: "
        f"{ratio}; {os.path.join(FLAGS.out, 'axes.json')}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
