"""Camelyon17-WILDS (Koh et al., 2021): 96x96 patches of lymph-node slides. label = tumour in the central
32x32 region, cue = hospital (center 0..4), the shift across which a model must generalise.

Files: the WILDS folder in `manual_dir`:
  manual_dir/camelyon17_v1.0/metadata.csv   (unnamed index, patient, node, x_coord, y_coord, tumor, slide,
                                             center, split)
  manual_dir/camelyon17_v1.0/patches/patient_004_node_4/patch_patient_004_node_4_x_3328_y_21792.png
Splits follow WILDS: hospitals 0, 3, 4 give train (csv split 0) and id_val (csv split 1); hospital 1 is val (OOD
validation); hospital 2 is test. The full set is 455,954 patches: use `max_per_split` on a CPU.
No checksum is checked: WILDS publishes none for the archive.
"""

import os

import ml_collections
import numpy as np

from jaxshort.constraints import choice, integer, text
from jaxshort.data import files
from jaxshort.data.schema import Dataset

FOLDER = "camelyon17_v1.0"
HOW_TO_GET = ("download camelyon17_v1.0 with the WILDS package (pip install wilds; python -c \"import wilds; "
              "wilds.get_dataset('camelyon17', root_dir='DIR', download=True)\") or from https://wilds.stanford.edu, "
              "and put the camelyon17_v1.0 folder in dataset.manual_dir")
CHECKSUM = "none is published by WILDS, so it is not checked"
SPLITS = ("train", "id_val", "val", "test")
VAL_CENTER, TEST_CENTER = 1, 2
NUM_CENTERS = 5


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "camelyon17"
  config.manual_dir = "~/data/wilds"  # holds camelyon17_v1.0/
  config.image_size = 0        # 0 keeps 96x96; else resized once at load time (224 for pretrained backbones)
  config.max_per_split = 0     # 0: all; else a seeded subset of each split
  return config


FIELD_RULES = {
    "name": choice("camelyon17"), "manual_dir": text(), "image_size": integer(0), "max_per_split": integer(0),
}


def patch_path(patient: int, node: int, x: int, y: int) -> str:
  """The WILDS path of one patch, relative to camelyon17_v1.0/."""
  slide = f"patient_{patient:03d}_node_{node}"
  return os.path.join("patches", slide, f"patch_{slide}_x_{x}_y_{y}.png")


def split_names(center: np.ndarray, csv_split: np.ndarray) -> np.ndarray:
  """WILDS split of each row [N]: val for hospital 1, test for hospital 2, else train/id_val from the csv."""
  names = np.where(csv_split == 0, "train", "id_val").astype(object)
  names[center == VAL_CENTER] = "val"
  names[center == TEST_CENTER] = "test"
  return names.astype(str)


def read_table(folder: str) -> dict[str, np.ndarray]:
  """metadata.csv as 'path', 'label', 'cue', 'id' and 'split' [N]; id is the row number."""
  path = os.path.join(folder, "metadata.csv")
  columns = ("patient", "node", "x_coord", "y_coord", "tumor", "center", "split")
  table = {c: files.to_ints(v, path, c, HOW_TO_GET) for c, v in files.read_csv(path, columns, HOW_TO_GET, CHECKSUM).items()}
  if not np.isin(table["tumor"], (0, 1)).all() or not np.isin(table["center"], range(NUM_CENTERS)).all():
    raise files.file_error(path, "corrupt table (tumor must be 0/1, center 0..4)", HOW_TO_GET, CHECKSUM)
  paths = [patch_path(*row) for row in zip(table["patient"], table["node"], table["x_coord"], table["y_coord"])]
  return {"path": np.array(paths), "label": table["tumor"], "cue": table["center"],
          "id": np.arange(len(paths), dtype=np.int32), "split": split_names(table["center"], table["split"])}


def camelyon17(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds Camelyon17-WILDS from `config` (fields: see `default_config`); images uint8 [N, S, S, 3]."""
  folder = files.require_file(os.path.join(os.path.expanduser(config.manual_dir), FOLDER), HOW_TO_GET, CHECKSUM)
  table = read_table(folder)
  splits = files.image_splits(folder, table, SPLITS, NUM_CENTERS, config.image_size, config.max_per_split, seed,
                              HOW_TO_GET)
  return Dataset(
      name="camelyon17", splits=splits, num_classes=2, num_cues=NUM_CENTERS,
      class_names=("normal", "tumor"), cue_names=tuple(f"hospital{c}" for c in range(NUM_CENTERS)),
      roles={"train": "train", "validation": "val", "in_distribution": "id_val", "out_of_distribution": "test"},
      info={"source": folder, "seed": seed, "checksum": CHECKSUM})
