"""CelebA (Liu et al., 2015) with a binary target attribute and a binary cue attribute. The two standard tasks:
  target Blond_Hair, cue Male      (Sagawa et al., 2020: blond hair goes with women in the data)
  target Attractive, cue Smiling
Any two of the 40 attributes may be named. Splits: the official partition (train, val, test).

Read from one of, in this order for source='auto':
  - tfds `celeb_a` prepared as array_record under `data_dir` (no TensorFlow needed to read it);
  - the official files in `manual_dir`: img_align_celeba/000001.jpg..., list_attr_celeba.txt,
    list_eval_partition.txt, read with Pillow.
Images (218x178) are centre-cropped to 178x178 and resized to `image_size` once at load time.
"""

import os

import ml_collections
import numpy as np

from jaxshort.constraints import boolean, choice, integer, text
from jaxshort.data import files, tfds_source
from jaxshort.data.arrays import make_split
from jaxshort.data.schema import Dataset
from jaxshort.errors import UserError

IMAGES = "img_align_celeba"
ATTRIBUTES = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"
# md5 as published with the official Google Drive files (and used by torchvision).
MD5 = {IMAGES + ".zip": "00d2c5bc6d35e252742224ab0c1e8fcb", ATTRIBUTES: "75e246fa4810816ffd6ee81facbd244c",
       PARTITION: "d32c9cbf5e040fd4025c592c306e6668"}
HOW_TO_GET = ("download img_align_celeba.zip (extract it), list_attr_celeba.txt and list_eval_partition.txt from "
              "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into dataset.manual_dir")
SPLITS = ("train", "val", "test")
TFDS_SPLITS = {"train": "train", "val": "validation", "test": "test"}
TASKS = {"blond_male": ("Blond_Hair", "Male"), "attractive_smiling": ("Attractive", "Smiling")}


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = "celeba"
  config.task = "blond_male"   # 'blond_male' (Blond_Hair, cue Male) or 'attractive_smiling'; or 'custom'
  config.target = ""           # for task='custom': the target attribute, e.g. 'Eyeglasses'
  config.cue = ""              # for task='custom': the cue attribute
  config.source = "auto"       # 'auto': tfds celeb_a if prepared under data_dir, else the files in manual_dir; or 'tfds', 'files'
  config.data_dir = ""         # tfds data_dir; '' means $TFDS_DATA_DIR or ~/tensorflow_datasets
  config.manual_dir = "~/data/celeba"  # holds img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt
  config.verify_checksum = True  # md5 of the two list files against the published ones
  config.image_size = 64       # centre crop 178x178, then resized once at load time (224 for pretrained backbones)
  config.max_per_split = 0     # 0: all; else a seeded subset of each split (for CPU runs; the full set is 202,599)
  return config


FIELD_RULES = {
    "name": choice("celeba"), "task": choice(*TASKS, "custom"), "target": text(), "cue": text(),
    "source": choice("auto", "tfds", "files"), "data_dir": text(), "manual_dir": text(), "verify_checksum": boolean(),
    "image_size": integer(1), "max_per_split": integer(0),
}


def task_attributes(config: ml_collections.ConfigDict) -> tuple[str, str]:
  """(target, cue) attribute names of the configured task."""
  if config.task == "custom":
    if not config.target or not config.cue:
      raise UserError("dataset.task='custom' needs dataset.target and dataset.cue, e.g. 'Eyeglasses' and 'Male'")
    return config.target, config.cue
  if config.task not in TASKS:
    raise UserError(f"dataset.task must be one of {sorted(TASKS) + ['custom']}, got {config.task!r}")
  if config.target or config.cue:
    raise UserError(f"dataset.target and dataset.cue are read only with dataset.task='custom'; task "
                    f"{config.task!r} is {TASKS[config.task][0]} with cue {TASKS[config.task][1]}: set task='custom' "
                    f"or leave them empty")
  return TASKS[config.task]


def read_attributes(path: str) -> tuple[list[str], np.ndarray, np.ndarray]:
  """list_attr_celeba.txt: attribute names [40], image file names [N], attributes bool [N, 40]."""
  corrupt = lambda why: files.file_error(path, f"partial or corrupt file ({why})", HOW_TO_GET, checksum_of(ATTRIBUTES))
  with open(path) as f:
    lines = f.read().splitlines()
  if len(lines) < 3 or not lines[0].strip().isdigit():
    raise corrupt("no header")
  names, rows = lines[1].split(), [line.split() for line in lines[2:] if line.strip()]
  if len(rows) != int(lines[0]) or any(len(row) != len(names) + 1 for row in rows):
    raise corrupt(f"expected {lines[0].strip()} rows of a file name and {len(names)} values")
  return names, np.array([row[0] for row in rows]), np.array([row[1:] for row in rows]) == "1"


def read_partition(path: str) -> dict[str, str]:
  """list_eval_partition.txt: file name -> split name (0 train, 1 val, 2 test)."""
  with open(path) as f:
    rows = [line.split() for line in f.read().splitlines() if line.strip()]
  if not rows or any(len(row) != 2 or row[1] not in ("0", "1", "2") for row in rows):
    raise files.file_error(path, "partial or corrupt file (rows must be '<file> <0|1|2>')", HOW_TO_GET,
                           checksum_of(PARTITION))
  return {name: SPLITS[int(split)] for name, split in rows}


def checksum_of(name: str) -> str:
  """The published checksum of file `name` (for the image folder: of the zip it comes in)."""
  return f"md5 {MD5[name]}" if name in MD5 else f"md5 {MD5[name + '.zip']} (of {name}.zip)"


def attribute_column(names: list[str], attribute: str) -> int:
  """Position of `attribute` in `names`; an unknown attribute is a `UserError` listing the known ones."""
  if attribute not in names:
    raise UserError(f"CelebA has no attribute {attribute!r}; attributes: {', '.join(names)}")
  return names.index(attribute)


def files_splits(config: ml_collections.ConfigDict, target: str, cue: str, seed: int) -> tuple[dict, str]:
  """Splits from the official files in `manual_dir`, and the source name."""
  manual_dir = os.path.expanduser(config.manual_dir)
  paths = {name: files.require_file(os.path.join(manual_dir, name), HOW_TO_GET, checksum_of(name))
           for name in (ATTRIBUTES, PARTITION, IMAGES)}
  if config.verify_checksum:
    for name in (ATTRIBUTES, PARTITION):
      files.verify_md5(paths[name], MD5[name], HOW_TO_GET)
  names, file_names, attributes = read_attributes(paths[ATTRIBUTES])
  partition = read_partition(paths[PARTITION])
  missing = [name for name in file_names if name not in partition]
  if missing:
    raise files.file_error(paths[PARTITION], f"partial file (no split for {missing[0]})", HOW_TO_GET,
                           checksum_of(PARTITION))
  table = {"path": file_names, "label": attributes[:, attribute_column(names, target)].astype(np.int32),
           "cue": attributes[:, attribute_column(names, cue)].astype(np.int32),
           "id": np.array([int(os.path.splitext(name)[0]) for name in file_names], np.int32),
           "split": np.array([partition.get(name, "") for name in file_names])}
  splits = files.image_splits(paths[IMAGES], table, SPLITS, 2, config.image_size, config.max_per_split, seed,
                              HOW_TO_GET, crop_square=True)
  return splits, f"files:{manual_dir}"


def tfds_splits(builder, config: ml_collections.ConfigDict, target: str, cue: str, seed: int) -> tuple[dict, str]:
  """Splits from a prepared tfds `celeb_a`; ids are positions, offset so that they are unique across splits."""
  known = list(builder.info.features["attributes"].keys())
  attribute_column(known, target), attribute_column(known, cue)
  splits, offset = {}, 0
  for salt, name in enumerate(SPLITS):
    size = len(builder.as_data_source(split=TFDS_SPLITS[name]))
    index = files.subsample(np.arange(size), config.max_per_split, seed, salt)
    convert = lambda e: {"image": files.fit_image(np.asarray(e["image"], np.uint8), config.image_size, True),
                         "label": np.int32(e["attributes"][target]), "cue": np.int32(e["attributes"][cue])}
    arrays = tfds_source.read_examples(builder, TFDS_SPLITS[name], convert, index)
    splits[name] = make_split(arrays["image"], arrays["label"], arrays["cue"], offset + index, num_cues=2)
    offset += size
  return splits, "tfds:celeb_a"


def celeba(config: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Builds CelebA for the configured task (fields: see `default_config`); images uint8 [N, S, S, 3]."""
  target, cue = task_attributes(config)
  if config.source not in ("auto", "tfds", "files"):
    raise UserError(f"dataset.source must be 'auto', 'tfds' or 'files', got {config.source!r}")
  builder = None if config.source == "files" else tfds_source.prepared_builder("celeb_a", config.data_dir or None)
  if builder is not None:
    splits, source = tfds_splits(builder, config, target, cue, seed)
  elif config.source == "tfds":
    raise tfds_source.not_prepared_error("celeb_a", config.data_dir or None,
                                         "set dataset.source='files' and put the official files in dataset.manual_dir")
  else:
    splits, source = files_splits(config, target, cue, seed)
  return Dataset(
      name="celeba", splits=splits, num_classes=2, num_cues=2,
      class_names=(f"not {target}", target), cue_names=(f"not {cue}", cue),
      roles={"train": "train", "validation": "val", "out_of_distribution": "test"},
      info={"source": source, "seed": seed, "target": target, "cue": cue,
            "checksum": ", ".join(f"md5 {v} ({k})" for k, v in MD5.items())})
