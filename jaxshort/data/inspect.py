"""See a dataset's shortcut before training: split sizes, group counts, and a PNG grid of examples per group.

    python -m jaxshort.data.inspect --config configs/erm_cmnist.py --out /tmp/cmnist
    python -m jaxshort.data.inspect --config configs/datasets.py:waterbirds \
        --config.dataset.manual_dir=~/data/waterbirds --out /tmp/waterbirds

Prints one line per split (size, then the count of every group, label|cue) and writes <out>/<split>.png, one
row per group (per class where a dataset has no cue). A missing or corrupt file is one line and exit code 2.
The config is read as launch.py reads it (jaxshort.config), so the same --config.x=value overrides apply. A
command, so an entry point: it may import any layer.
"""

import os

import numpy as np
from absl import flags

from jaxshort import cli
from jaxshort import config as config_lib
from jaxshort.data import build_dataset
from jaxshort.data.schema import Dataset, Split

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined when it runs, so that importing this module defines none)."""
  flags.DEFINE_string("config", os.path.join(config_lib.REPO, "configs", "erm_cmnist.py"),
                      "Config file with get_config() ('file.py[:argument]'); its `dataset` field names the dataset.")
  flags.DEFINE_string("out", None, "Folder for the PNG grids (created if absent).")
  flags.DEFINE_integer("per_group", 8, "Example images shown per group.")


def summary_lines(dataset: Dataset) -> list[str]:
  """One line per split: its name, size and group counts (class counts where there is no cue)."""
  lines = [f"{dataset.name}: {dataset.num_classes} classes, {dataset.num_cues} cues, images "
           f"{'x'.join(map(str, dataset.image_shape))}, source {dataset.info.get('source', '?')}"]
  for name, split in dataset.splits.items():
    counts = row_counts(dataset, split)
    lines.append(f"  {name:>10} {len(split['label']):>7}  " + "  ".join(f"{k} {v}" for k, v in counts.items()))
  return lines


def rows_of(dataset: Dataset, split: Split) -> tuple[np.ndarray, list[str]]:
  """int [N] row of each example in the grid (its group, or its class where there is no cue) and row names."""
  if (split["cue"] < 0).all():
    return split["label"], list(dataset.class_names)
  return split["group"], [dataset.group_name(g) for g in range(dataset.num_groups)]


def row_counts(dataset: Dataset, split: Split) -> dict[str, int]:
  rows, names = rows_of(dataset, split)
  counts = np.bincount(rows[rows >= 0], minlength=len(names))
  return dict(zip(names, counts.tolist()))


def example_grid(dataset: Dataset, split: Split, per_row: int, seed: int) -> tuple[np.ndarray, list[str]]:
  """uint8 [R, per_row, H, W, C]: up to `per_row` random examples of each of the R rows (groups or classes),
  blank where a row holds fewer; and the row names."""
  rows, names = rows_of(dataset, split)
  rng = np.random.default_rng(seed)
  grid = np.full((len(names), per_row, *split["image"].shape[1:]), 255, np.uint8)
  for row in range(len(names)):
    members = np.flatnonzero(rows == row)
    chosen = rng.choice(members, min(per_row, len(members)), replace=False)
    grid[row, :len(chosen)] = split["image"][np.sort(chosen)]
  return grid, names


def save_grid(path: str, grid: np.ndarray, names: list[str], counts: dict[str, int], title: str) -> None:
  """Writes `grid` (uint8 [R, K, H, W, C]) as a PNG with each row labelled by its name and count."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  num_rows, per_row = grid.shape[:2]
  figure, axes = plt.subplots(num_rows, per_row, figsize=(1.1 * per_row + 1.6, 1.1 * num_rows + 0.4),
                              squeeze=False)
  for row in range(num_rows):
    for col in range(per_row):
      axis = axes[row, col]
      image = grid[row, col]
      axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
      axis.set_xticks([]), axis.set_yticks([])
    axes[row, 0].set_ylabel(f"{names[row]}\n({counts[names[row]]})", rotation=0, ha="right", va="center",
                            fontsize=8)
  figure.suptitle(title, fontsize=9)
  figure.savefig(path, dpi=80, bbox_inches="tight")
  plt.close(figure)


def inspect_dataset(dataset: Dataset, out_dir: str, per_group: int = 8, seed: int = 0) -> list[str]:
  """Writes <out_dir>/<split>.png for every split; returns the summary lines and the files written."""
  os.makedirs(out_dir, exist_ok=True)
  lines = summary_lines(dataset)
  for name, split in dataset.splits.items():
    grid, names = example_grid(dataset, split, per_group, seed)
    path = os.path.join(out_dir, f"{name}.png")
    save_grid(path, grid, names, row_counts(dataset, split), f"{dataset.name} / {name}")
    lines.append(f"wrote {path}")
  return lines


def main(argv: list[str], overrides: list[str]) -> None:
  if len(argv) > 1:
    cli.fail(f"unexpected arguments {argv[1:]}; set config fields with --config.field=value")
  if not FLAGS.out:
    cli.fail("--out is required: the folder for the PNG grids")
  config = config_lib.load(FLAGS.config, overrides)
  if "dataset" not in config:
    cli.fail(f"{FLAGS.config} has no dataset section (a suite?); pass the config of one run, e.g. "
             f"configs/erm_cmnist.py")
  dataset = build_dataset(config.dataset, config.seed)
  print("\n".join(inspect_dataset(dataset, FLAGS.out, FLAGS.per_group, config.seed)))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
