"""Your own data: ERM on arrays from a .npz file (see jaxshort/data/arrays.py for the layout).

    python launch.py --config configs/arrays.py --config.dataset.path=my_data.npz

The file holds train_image, train_label (and optionally train_cue, val_*, test_id_* or test_*, test_ood_*).
"""

from configs import erm_cmnist


def get_config():
  config = erm_cmnist.get_config()
  config.dataset = dict(name="arrays", path="", num_classes=0, num_cues=0)  # 0: inferred from the data
  config.model.name = "small_cnn"
  config.model.widths = (32, 64)
  return config
