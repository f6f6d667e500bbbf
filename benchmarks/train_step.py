"""Training throughput of jaxshort's jitted train step against a PyTorch reference of the same model, batch and
optimizer (Adam, batch 128, uint8 32x32x3 images normalized inside the step, 10 classes).

    python benchmarks/train_step.py [--models small_cnn,resnet18,sitar_vae] [--steps 5] [--repeats 3]
    python benchmarks/train_step.py --gpu          # on a GPU: float32 and bfloat16 mixed precision, both sides

Variants on the CPU: JAX on 1 and 2 CPU devices (the batch split over the `data` mesh), each with and without
`--xla_cpu_use_onednn=true`, and PyTorch on `--torch_threads` threads. With `--gpu`: JAX and PyTorch on the GPU,
each in float32 and in bfloat16 mixed precision (jaxshort's `compute_dtype='bfloat16'`; PyTorch's autocast),
PyTorch with cudnn.benchmark on. `sitar_vae` is the SITAR train step (sitar/loss.py, the noise method: beta-VAE +
classifier, 14x14x3 Colored MNIST shapes, 2 classes) against the same objective written in PyTorch below; it
runs in float32 only. Each variant is a worker process (the JAX
device count is fixed when JAX starts), warmed up once (compile + `--warmup` steps); then the workers are timed in
turn, `--repeats` rounds of `--steps` steps each, so every variant sees the same load. Prints the median
examples/second of each and its ratio to PyTorch. Models not in jaxshort.models.MODELS are reported as skipped;
without torch installed the PyTorch column is skipped (torch is an optional benchmark dependency).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONEDNN_FLAG = "--xla_cpu_use_onednn=true"
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


# ---------------------------------------------------------------- the workers: one variant each, timed on request


def random_batch(batch_size: int, seed: int = 0) -> dict:
  """uint8 images [B, 32, 32, 3] and int32 labels [B]."""
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (batch_size, *IMAGE_SHAPE), dtype=np.uint8),
          "label": rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32)}


def jax_runner(model_name: str, num_devices: int, batch_size: int, dtype: str = "float32"):
  """A function running `steps` of jaxshort's train step (Adam, cross-entropy) on a fixed sharded batch, results
  awaited."""
  import jax  # pylint: disable=import-outside-toplevel
  jax.config.update("jax_num_cpu_devices", num_devices)
  if model_name == "sitar_vae":
    return jax_sitar_runner(batch_size)
  import ml_collections  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  sys.path.insert(0, REPO)
  from jaxshort import models  # pylint: disable=import-outside-toplevel
  from jaxshort.training import sharding  # pylint: disable=import-outside-toplevel
  from jaxshort.training.state import create_train_state  # pylint: disable=import-outside-toplevel
  from jaxshort.models import init_variables  # pylint: disable=import-outside-toplevel
  from jaxshort.training.steps import make_train_step  # pylint: disable=import-outside-toplevel

  if jax.default_backend() == "cpu":
    assert jax.device_count() == num_devices, jax.devices()
  model = models.build_model(ml_collections.ConfigDict({"name": model_name, **JAX_SETTINGS.get(model_name, {})}),
                             NUM_CLASSES)
  variables = init_variables(model, jax.random.key(0), IMAGE_SHAPE)
  mesh = sharding.data_mesh()
  state = [sharding.replicate(create_train_state(model, variables, optax.adam(1e-3)), mesh)]
  batch = sharding.shard_batch(random_batch(batch_size), mesh)
  rng = jax.random.key(1)
  step = make_train_step(compute_dtype=dtype)

  def run(steps: int) -> None:
    for _ in range(steps):
      state[0], metrics = step(state[0], batch, rng)
    jax.block_until_ready((state[0], metrics))
  return run


SITAR = {"image_shape": (14, 14, 3), "num_classes": 2, "latent_dim": 10, "channels": (16, 32), "hidden": 128,
         "alpha": 1.0, "beta": 2.0, "lambda_cons": 10.0}  # configs/sitar/colored_mnist.py


def sitar_batch(batch_size: int, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (batch_size, *SITAR["image_shape"]), dtype=np.uint8),
          "label": rng.integers(0, SITAR["num_classes"], batch_size).astype(np.int32)}


def jax_sitar_runner(batch_size: int):
  """`steps` of the SITAR train step (noise method) through jaxshort's make_train_step, Adam."""
  import jax  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  sys.path.insert(0, REPO)
  from jaxshort import models  # pylint: disable=import-outside-toplevel
  from jaxshort.methods.vae import sitar_objective  # pylint: disable=import-outside-toplevel
  from jaxshort.sitar import SitarHParams  # pylint: disable=import-outside-toplevel
  from jaxshort.training import sharding  # pylint: disable=import-outside-toplevel
  from jaxshort.training.state import create_train_state  # pylint: disable=import-outside-toplevel
  from jaxshort.models import init_variables  # pylint: disable=import-outside-toplevel
  from jaxshort.training.steps import make_train_step  # pylint: disable=import-outside-toplevel

  model = models.MODELS.get("sitar_vae")(num_classes=SITAR["num_classes"], latent_dim=SITAR["latent_dim"],
                                         channels=SITAR["channels"], hidden=SITAR["hidden"],
                                         image_shape=SITAR["image_shape"])
  hp = SitarHParams(alpha=SITAR["alpha"], beta=SITAR["beta"], lambda_cons=SITAR["lambda_cons"])
  step = make_train_step(sitar_objective(hp, SITAR["num_classes"], 2))
  mesh = sharding.data_mesh()
  variables = init_variables(model, jax.random.key(0), SITAR["image_shape"])
  state = [sharding.replicate(create_train_state(model, variables, optax.adam(1e-3)), mesh)]
  batch = sharding.shard_batch(sitar_batch(batch_size), mesh)
  rng = jax.random.key(1)

  def run(steps: int) -> None:
    for _ in range(steps):
      state[0], metrics = step(state[0], batch, rng)
    jax.block_until_ready((state[0], metrics))
  return run


def torch_small_cnn(widths=(32, 64, 128)):
  """jaxshort's SmallCNN in PyTorch: [3x3 conv (no bias), batch norm, ReLU, 2x2 max-pool] x len(widths),
  global average pooling, a linear head."""
  from torch import nn  # pylint: disable=import-outside-toplevel
  layers, channels = [], IMAGE_SHAPE[-1]
  for width in widths:
    layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width, momentum=0.1),
               nn.ReLU(), nn.MaxPool2d(2)]
    channels = width
  return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, NUM_CLASSES))


def torch_resnet18():
  """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool; BasicBlocks [2, 2, 2, 2] of 64..512 channels)."""
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel

  class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
      super().__init__()
      self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
      self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                       if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
      return torch.relu(self.body(x) + self.shortcut(x))

  layers, cin = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
  for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
    layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
    cin = cout
  return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, NUM_CLASSES))


def torch_sitar_vae():
  """jaxshort's SitarVAE (models/vae.py) for 14x14x3 in PyTorch: encoder convs (kernel 4, stride 2, padding 1,
  ReLU) 3-16-32 to a 3x3 map, linear mu / logvar heads; decoder linear to 4x4x32, transposed convs 32-16-3 to
  16x16, cropped to 14x14; classifier d -> 128 -> ReLU -> 2."""
  from torch import nn  # pylint: disable=import-outside-toplevel
  (c1, c2), d = SITAR["channels"], SITAR["latent_dim"]

  class SitarVAE(nn.Module):
    def __init__(self):
      super().__init__()
      self.encoder = nn.Sequential(nn.Conv2d(3, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
                                   nn.Flatten())
      self.mu, self.logvar = nn.Linear(3 * 3 * c2, d), nn.Linear(3 * 3 * c2, d)
      self.decoder_in = nn.Linear(d, 4 * 4 * c2)
      self.decoder = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
                                   nn.ConvTranspose2d(c1, 3, 4, 2, 1))
      self.classifier = nn.Sequential(nn.Linear(d, SITAR["hidden"]), nn.ReLU(),
                                      nn.Linear(SITAR["hidden"], SITAR["num_classes"]))

    def encode(self, x):
      features = self.encoder(x)
      return self.mu(features), self.logvar(features)

    def decode(self, z):
      return self.decoder(self.decoder_in(z).view(-1, c2, 4, 4))[:, :, :14, :14]

  return SitarVAE()


def torch_sitar_loss(model, x, labels):
  """SITAR's noise objective (sitar/loss.py) in PyTorch: L_VAE + mean[CE(f(zbar)) + lambda ||f(zbar) - f(z)||^2]
  with the class-balanced batch correlation scores (sitar/scores.py), gradients stopped through them."""
  import torch  # pylint: disable=import-outside-toplevel
  mu, logvar = model.encode(x)
  z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
  recon = model.decode(z)
  l_vae = ((recon - x)**2).sum((1, 2, 3)).mean() + SITAR["beta"] * (
      0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)).mean()
  with torch.no_grad():
    onehot = torch.nn.functional.one_hot(labels, SITAR["num_classes"]).float()
    weights = 1.0 / onehot.sum(0).clamp(min=1.0)[labels]
    weights = weights / weights.sum()
    xc, yc = mu - weights @ mu, onehot - weights @ onehot
    cov = (xc * weights[:, None]).T @ yc
    denom = torch.sqrt((weights @ (xc * xc))[:, None] * (weights @ (yc * yc))[None, :])
    scores = torch.where(denom > 0, cov / denom.clamp(min=1e-30), torch.zeros_like(cov)).abs().amax(1)
  logits = model.classifier(z + SITAR["alpha"] * scores * torch.randn_like(z))
  consistency = ((logits - model.classifier(z))**2).sum(1)
  ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
  return l_vae + (ce + SITAR["lambda_cons"] * consistency).mean()


TORCH_MODELS = {"small_cnn": torch_small_cnn, "resnet18": torch_resnet18, "sitar_vae": torch_sitar_vae}
JAX_SETTINGS = {"resnet18": {"stem": "cifar"}}  # the same architecture as the PyTorch reference above


def torch_runner(model_name: str, threads: int, batch_size: int, device: str = "cpu", dtype: str = "float32"):
  """The same step in PyTorch: uint8 -> [-1, 1], forward, loss (cross-entropy, or SITAR's), backward, Adam;
  `dtype` 'bfloat16' runs forward and loss under autocast (mixed precision)."""
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(threads)
  torch.manual_seed(0)
  torch.backends.cudnn.benchmark = True
  model = TORCH_MODELS[model_name]().train().to(device)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  batch = sitar_batch(batch_size) if model_name == "sitar_vae" else random_batch(batch_size)
  images = torch.from_numpy(batch["image"]).permute(0, 3, 1, 2).contiguous().to(device)
  labels = torch.from_numpy(batch["label"]).long().to(device)
  loss_fn = ((lambda x: torch_sitar_loss(model, x, labels)) if model_name == "sitar_vae"
             else (lambda x: torch.nn.functional.cross_entropy(model(x), labels)))

  def run(steps: int) -> None:
    for _ in range(steps):
      x = images.float() * (2.0 / 255.0) - 1.0
      with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
        loss = loss_fn(x)
      optimizer.zero_grad(set_to_none=True)
      loss.backward()
      optimizer.step()
    if device == "cuda":
      torch.cuda.synchronize()
  return run


def worker(args) -> None:
  """Builds one variant, warms it up, then answers each 'time' line on stdin with the seconds of `--steps` steps."""
  if args.worker == "torch":
    run = torch_runner(args.model, args.torch_threads, args.batch_size, "cuda" if args.gpu else "cpu", args.dtype)
  else:
    run = jax_runner(args.model, args.devices, args.batch_size, args.dtype)
  run(args.warmup)
  print("ready", flush=True)
  for line in sys.stdin:
    if line.strip() != "time":
      break
    start = time.perf_counter()
    run(args.steps)
    print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


# ---------------------------------------------------------------- the driver


def variants(args, model: str) -> list[tuple[str, list[str], dict]]:
  """(label, worker arguments, extra environment) of every variant; torch last, if installed."""
  if args.gpu:
    return gpu_variants(model)
  out = []
  for onednn in (False, True):
    for devices in (1, 2):
      flags = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), ONEDNN_FLAG if onednn else "") if f)
      label = f"jax {devices} dev" + (" +onednn" if onednn else "")
      out.append((label, ["--worker", "jax", "--devices", str(devices)], {"XLA_FLAGS": flags}))
  try:
    import torch  # pylint: disable=import-outside-toplevel,unused-import
    out.append((f"torch {args.torch_threads} thr", ["--worker", "torch"], {}))
  except ImportError:
    print("torch not installed: PyTorch reference skipped (pip install torch==2.13.0)")
  return out


def gpu_variants(model: str) -> list[tuple[str, list[str], dict]]:
  """JAX and PyTorch on the GPU, float32 and (not for sitar_vae) bfloat16; the workers share the GPU, so JAX
  allocates on demand instead of taking most of its memory up front."""
  env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
  dtypes = ("float32",) if model == "sitar_vae" else ("float32", "bfloat16")
  out = [(f"jax gpu {dtype}", ["--worker", "jax", "--dtype", dtype], env) for dtype in dtypes]
  out += [(f"torch gpu {dtype}", ["--worker", "torch", "--dtype", dtype, "--gpu"], env) for dtype in dtypes]
  return out


def start_worker(args, model: str, worker_args: list[str], env: dict) -> subprocess.Popen:
  command = [sys.executable, os.path.abspath(__file__), "--model", model, "--batch_size", str(args.batch_size),
             "--steps", str(args.steps), "--warmup", str(args.warmup), "--torch_threads", str(args.torch_threads),
             *worker_args]
  process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, **env})
  line = process.stdout.readline()
  if line.strip() != "ready":
    process.kill()
    raise RuntimeError(f"worker {worker_args} failed to start (see its stderr above)")
  return process


def time_once(process: subprocess.Popen) -> float:
  process.stdin.write("time\n")
  process.stdin.flush()
  return json.loads(process.stdout.readline())["seconds"]


def benchmark_model(args, model: str) -> None:
  """Starts every variant's worker (one at a time, so compiles do not overlap), then times them in turn."""
  runs = variants(args, model)
  if model not in TORCH_MODELS:
    runs = [r for r in runs if not r[0].startswith("torch")]
  processes = [start_worker(args, model, worker_args, env) for _, worker_args, env in runs]
  seconds = {label: [] for label, _, _ in runs}
  try:
    for _ in range(args.repeats):
      for (label, _, _), process in zip(runs, processes):
        seconds[label].append(time_once(process))
  finally:
    for process in processes:
      process.stdin.close()
      process.wait()
  rates = {label: args.steps * args.batch_size / statistics.median(s) for label, s in seconds.items()}
  torch_rates = {label: rate for label, rate in rates.items() if label.startswith("torch")}

  def reference(label: str) -> float | None:
    """PyTorch's rate in the same precision (GPU variants end in their dtype), else the first PyTorch rate."""
    same = [rate for other, rate in torch_rates.items() if other.split()[-1] == label.split()[-1]]
    return same[0] if same else next(iter(torch_rates.values()), None)
  print(f"\n{model}: median of {args.repeats} x {args.steps} steps, batch {args.batch_size}; load before: "
        f"{load()}")
  print(f"  {'variant':<22}{'examples/s':>12}{'steps/s':>9}{'vs torch':>10}")
  for label, rate in rates.items():
    ratio = f"{rate / reference(label):.2f}x" if reference(label) else "-"
    print(f"  {label:<22}{rate:>12,.1f}{rate / args.batch_size:>9.2f}{ratio:>10}")


def load() -> str:
  with open("/proc/loadavg", encoding="utf-8") as f:
    return " ".join(f.read().split()[:3])


def registered_models() -> list[str]:
  """Model names in jaxshort's registry (imported in a subprocess, so this process never starts JAX)."""
  code = f"import sys; sys.path.insert(0, {REPO!r}); from jaxshort import models; print(','.join(models.MODELS.names()))"
  return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip().split(",")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="small_cnn,resnet18,sitar_vae")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=5, help="steps per timed repeat")
  parser.add_argument("--warmup", type=int, default=2, help="steps run once after compiling, not timed")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--torch_threads", type=int, default=2)
  parser.add_argument("--gpu", action="store_true", help="JAX and PyTorch on the GPU, float32 and bfloat16")
  parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
  parser.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
  parser.add_argument("--model", help=argparse.SUPPRESS)
  parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args)
    return
  known = registered_models()
  print(f"{os.cpu_count()} CPUs; load {load()}; models in the registry: {', '.join(known)}")
  for model in args.models.split(","):
    if model not in known:
      print(f"\n{model}: not in jaxshort.models.MODELS: skipped")
      continue
    benchmark_model(args, model)


if __name__ == "__main__":
  main()
