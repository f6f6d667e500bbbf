"""Waterbirds (Sagawa et al., 2020): birds from CUB pasted on Places backgrounds. label = waterbird, cue = place
(0 land, 1 water). Training groups are 95% correlated; val and test are balanced within each class.

Not in the tfds catalogue. Files: the standard tarball's folder in `manual_dir`:
  manual_dir/waterbird_complete95_forest2water2/metadata.csv   (img_id, img_filename, y, split, place, ...)
  manual_dir/waterbird_complete95_forest2water2/<img_filename> (e.g. 001.Black_footed_Albatross/....jpg)
Splits from the csv's split column: 0 train, 1 val, 2 test. Images are resized once at load time.
No checksum is checked: the authors publish none for the archive.
"""

import os

import ml_collections
import numpy as np

from jaxshort.constraints import choice, integer, text
from jaxshort.data import files
from jaxshort.data.schema import Dataset

FOLDER = "waterbird_complete95_forest2water2"
HOW_TO_GET = (f"download {FOLDER}.tar.gz from https://nlp.stanford.edu/data/dro/{FOLDER}.tar.gz (the group DRO "
              f"release) and extract it into dataset.manual_dir")
CHECKSUM = "none is published for this archive, so it is not checked"
SPLITS = ("train", "val", "test")


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "waterbirds"
  config.manual_dir = "~/data/waterbirds"  # holds waterbird_complete95_forest2water2/
  config.image_size = 64       # images resized once at load time: 64 for SITAR-style CNNs, 224 for pretrained backbones
  config.max_per_split = 0     # 0: all; else a seeded subset of each split (for CPU runs)
  return config


FIELD_RULES = {
    "name": choice("waterbirds"), "manual_dir": text(), "image_size": integer(1), "max_per_split": integer(0),
}


def read_table(folder: str) -> dict[str, np.ndarray]:
  """metadata.csv as 'path', 'label', 'cue', 'id' [N] and 'split' [N] (names from SPLITS)."""
  path = os.path.join(folder, "metadata.csv")
  table = files.read_csv(path, ("img_id", "img_filename", "y", "split", "place"), HOW_TO_GET, CHECKSUM)
  ints = {c: files.to_ints(table[c], path, c, HOW_TO_GET) for c in ("img_id", "y", "split", "place")}
  if not np.isin(ints["split"], (0, 1, 2)).all() or not np.isin(ints["y"], (0, 1)).all() \
      or not np.isin(ints["place"], (0, 1)).all():
    raise files.file_error(path, "corrupt table (split must be 0/1/2, y and place 0/1)", HOW_TO_GET, CHECKSUM)
  return {"path": table["img_filename"], "label": ints["y"], "cue": ints["place"], "id": ints["img_id"],
          "split": np.array(SPLITS)[ints["split"]]}


def waterbirds(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds Waterbirds from `config` (fields: see `default_config`); images uint8 [N, S, S, 3]."""
  folder = files.require_file(os.path.join(os.path.expanduser(config.manual_dir), FOLDER), HOW_TO_GET, CHECKSUM)
  table = read_table(folder)
  splits = files.image_splits(folder, table, SPLITS, 2, config.image_size, config.max_per_split, seed, HOW_TO_GET)
  return Dataset(
      name="waterbirds", splits=splits, num_classes=2, num_cues=2,
      class_names=("landbird", "waterbird"), cue_names=("land", "water"),
      roles={"train": "train", "validation": "val", "out_of_distribution": "test"},
      info={"source": folder, "seed": seed, "checksum": CHECKSUM})
