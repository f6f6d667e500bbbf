"""Tiny dataset files in the real on-disk formats, written into a test's tmp_path: the sources read them exactly
as they read the official files."""

import io
import os
import pickle
import tarfile

import numpy as np
from PIL import Image


def _save_image(path: str, height: int, width: int, rng: np.random.Generator) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def cifar_tarball(folder: str, per_batch: int = 6, seed: int = 0) -> str:
  """cifar-10-python.tar.gz with the official pickle layout (bytes keys, data uint8 [n, 3072] in CHW order)."""
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, "cifar-10-python.tar.gz")
  with tarfile.open(path, "w:gz") as archive:
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
      batch = {b"batch_label": name.encode(), b"labels": [int(x) for x in rng.integers(0, 10, per_batch)],
               b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
               b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
      data = pickle.dumps(batch, protocol=2)
      info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
  return path


# (y, place) counts per split: train skewed like Waterbirds, val and test balanced within class.
WATERBIRDS_GROUPS = {0: {(0, 0): 12, (0, 1): 2, (1, 0): 1, (1, 1): 5},
                     1: {(0, 0): 2, (0, 1): 2, (1, 0): 2, (1, 1): 2},
                     2: {(0, 0): 3, (0, 1): 3, (1, 0): 3, (1, 1): 3}}


def waterbirds_folder(root: str, seed: int = 0, groups_per_split: dict | None = None) -> str:
  """waterbird_complete95_forest2water2/ with metadata.csv and JPEGs of varying size; returns `root`.
  groups_per_split: {split: {(y, place): count}}, default WATERBIRDS_GROUPS."""
  rng = np.random.default_rng(seed)
  folder = os.path.join(root, "waterbird_complete95_forest2water2")
  rows, img_id = [], 1
  for split, groups in (groups_per_split or WATERBIRDS_GROUPS).items():
    for (y, place), count in groups.items():
      for _ in range(count):
        filename = f"{img_id:03d}.Some_bird/Some_Bird_{img_id:04d}.jpg"
        _save_image(os.path.join(folder, filename), 20 + img_id % 5, 24, rng)
        rows.append(f"{img_id},{filename},{y},{split},{place},places/x/{img_id}.jpg")
        img_id += 1
  with open(os.path.join(folder, "metadata.csv"), "w") as f:
    f.write("img_id,img_filename,y,split,place,place_filename\n" + "\n".join(rows) + "\n")
  return root


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Attractive", "Blond_Hair", "Male", "Smiling", "Young"]


def celeba_folder(root: str, num_images: int = 24, seed: int = 0) -> str:
  """img_align_celeba/ (218x178 JPEGs), list_attr_celeba.txt and list_eval_partition.txt; returns `root`."""
  rng = np.random.default_rng(seed)
  attributes = rng.choice(["-1", "1"], (num_images, len(CELEBA_ATTRIBUTES)))
  names = [f"{i:06d}.jpg" for i in range(1, num_images + 1)]
  for name in names:
    _save_image(os.path.join(root, "img_align_celeba", name), 218, 178, rng)
  lines = [str(num_images), " ".join(CELEBA_ATTRIBUTES)]
  lines += [f"{name} " + " ".join(f"{v:>2}" for v in row) for name, row in zip(names, attributes)]
  with open(os.path.join(root, "list_attr_celeba.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  splits = np.repeat([0, 1, 2], [num_images // 2, num_images // 4, num_images - num_images // 2 - num_images // 4])
  with open(os.path.join(root, "list_eval_partition.txt"), "w") as f:
    f.write("".join(f"{name} {s}\n" for name, s in zip(names, splits)))
  return root


def camelyon_folder(root: str, per_center: int = 4, seed: int = 0) -> str:
  """camelyon17_v1.0/ with the WILDS metadata.csv and 96x96 PNG patches, `per_center` per hospital."""
  rng = np.random.default_rng(seed)
  folder = os.path.join(root, "camelyon17_v1.0")
  rows = []
  for center in range(5):
    patient, node = 10 * center + 4, center % 5
    for i in range(per_center):
      x, y = 32 * i, 64 * i + 1
      tumor, split = i % 2, int(i == per_center - 1)
      slide = f"patient_{patient:03d}_node_{node}"
      _save_image(os.path.join(folder, "patches", slide, f"patch_{slide}_x_{x}_y_{y}.png"), 96, 96, rng)
      rows.append(f"{len(rows)},{patient},{node},{x},{y},{tumor},{center * 10 + node},{center},{split}")
  with open(os.path.join(folder, "metadata.csv"), "w") as f:
    f.write(",patient,node,x_coord,y_coord,tumor,slide,center,split\n" + "\n".join(rows) + "\n")
  return root
