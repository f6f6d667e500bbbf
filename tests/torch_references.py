"""PyTorch reference networks written with torchvision's and timm's key names (so neither library is needed), and
the reference outputs committed in tests/data/pretrained, made once by

    pip install torch safetensors && python -m tests.torch_references

Each reference model gets random weights (`randomize`) and is saved as a state dict in .safetensors; its logits on
fixed random images, and torch's adaptive average pooling on fixed inputs, go to references.npz. Tests compare our
conversion (models/pretrained.py) and pooling against these files without torch, and against live torch where it is
installed.
"""

import functools
import os

import numpy as np
import pytest

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pretrained")
NUM_CLASSES = 7
POOL_CASES = [(5, 3), (1, 7), (14, 7), (7, 7), (9, 2)]  # (input side, output size)


def torch_modules():
  """The reference networks (imports torch, or skips the test)."""
  torch = pytest.importorskip("torch")
  tnn = torch.nn

  class BasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, cin, width, stride):
      super().__init__()
      self.conv1, self.bn1 = tnn.Conv2d(cin, width, 3, stride, 1, bias=False), tnn.BatchNorm2d(width)
      self.conv2, self.bn2 = tnn.Conv2d(width, width, 3, 1, 1, bias=False), tnn.BatchNorm2d(width)
      self.downsample = None
      if stride != 1 or cin != width:
        self.downsample = tnn.Sequential(tnn.Conv2d(cin, width, 1, stride, bias=False), tnn.BatchNorm2d(width))

    def forward(self, x):
      y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
      return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

  class Bottleneck(tnn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
      super().__init__()
      self.conv1, self.bn1 = tnn.Conv2d(cin, width, 1, bias=False), tnn.BatchNorm2d(width)
      self.conv2, self.bn2 = tnn.Conv2d(width, width, 3, stride, 1, bias=False), tnn.BatchNorm2d(width)
      self.conv3, self.bn3 = tnn.Conv2d(width, 4 * width, 1, bias=False), tnn.BatchNorm2d(4 * width)
      self.downsample = None
      if stride != 1 or cin != 4 * width:
        self.downsample = tnn.Sequential(tnn.Conv2d(cin, 4 * width, 1, stride, bias=False),
                                         tnn.BatchNorm2d(4 * width))

    def forward(self, x):
      y = torch.relu(self.bn1(self.conv1(x)))
      y = torch.relu(self.bn2(self.conv2(y)))
      y = self.bn3(self.conv3(y))
      return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

  class ResNet(tnn.Module):  # torchvision.models.ResNet
    def __init__(self, block, stage_sizes, widths, num_classes):
      super().__init__()
      self.conv1, self.bn1 = tnn.Conv2d(3, widths[0], 7, 2, 3, bias=False), tnn.BatchNorm2d(widths[0])
      self.maxpool = tnn.MaxPool2d(3, 2, 1)
      cin = widths[0]
      for i, (depth, width) in enumerate(zip(stage_sizes, widths)):
        blocks = []
        for j in range(depth):
          blocks.append(block(cin, width, 2 if i > 0 and j == 0 else 1))
          cin = block.expansion * width
        setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
      self.fc = tnn.Linear(cin, num_classes)

    def forward(self, x):
      x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
      for i in range(4):
        x = getattr(self, f"layer{i + 1}")(x)
      return self.fc(x.mean(dim=(2, 3)))

  class Attention(tnn.Module):
    def __init__(self, dim, heads):
      super().__init__()
      self.heads, self.qkv, self.proj = heads, tnn.Linear(dim, 3 * dim), tnn.Linear(dim, dim)

    def forward(self, x):
      b, n, c = x.shape
      q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
      weights = torch.softmax(q @ k.transpose(-2, -1) * (c // self.heads) ** -0.5, dim=-1)
      return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))

  class Mlp(tnn.Module):
    def __init__(self, dim, hidden):
      super().__init__()
      self.fc1, self.fc2 = tnn.Linear(dim, hidden), tnn.Linear(hidden, dim)

    def forward(self, x):
      return self.fc2(tnn.functional.gelu(self.fc1(x)))

  class Block(tnn.Module):
    def __init__(self, dim, heads):
      super().__init__()
      self.norm1, self.attn = tnn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
      self.norm2, self.mlp = tnn.LayerNorm(dim, eps=1e-6), Mlp(dim, 4 * dim)

    def forward(self, x):
      x = x + self.attn(self.norm1(x))
      return x + self.mlp(self.norm2(x))

  class PatchEmbed(tnn.Module):
    def __init__(self, dim, patch):
      super().__init__()
      self.proj = tnn.Conv2d(3, dim, patch, patch)

  class DeiT(tnn.Module):  # timm's VisionTransformer / distilled DeiT, eval mode
    def __init__(self, dim, depth, heads, patch, tokens, distilled, num_classes):
      super().__init__()
      self.patch_embed = PatchEmbed(dim, patch)
      self.cls_token = tnn.Parameter(torch.randn(1, 1, dim))
      self.dist_token = tnn.Parameter(torch.randn(1, 1, dim)) if distilled else None
      self.pos_embed = tnn.Parameter(torch.randn(1, tokens + 1 + distilled, dim))
      self.blocks = tnn.Sequential(*[Block(dim, heads) for _ in range(depth)])
      self.norm, self.head = tnn.LayerNorm(dim, eps=1e-6), tnn.Linear(dim, num_classes)
      self.head_dist = tnn.Linear(dim, num_classes) if distilled else None

    def forward(self, x):
      x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
      prefix = [self.cls_token] + ([self.dist_token] if self.dist_token is not None else [])
      x = torch.cat([t.expand(x.shape[0], -1, -1) for t in prefix] + [x], dim=1) + self.pos_embed
      x = self.norm(self.blocks(x))
      if self.head_dist is None:
        return self.head(x[:, 0])
      return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2

  class LayerNorm2d(tnn.LayerNorm):
    def forward(self, x):
      return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

  class ConvNeXtBlock(tnn.Module):
    def __init__(self, dim):
      super().__init__()
      self.conv_dw = tnn.Conv2d(dim, dim, 7, padding=3, groups=dim)
      self.norm, self.mlp = tnn.LayerNorm(dim, eps=1e-6), Mlp(dim, 4 * dim)
      self.gamma = tnn.Parameter(torch.randn(dim))

    def forward(self, x):
      y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1)))
      return x + (self.gamma * y).permute(0, 3, 1, 2)

  class ConvNeXtStage(tnn.Module):
    def __init__(self, cin, dim, depth, downsample):
      super().__init__()
      self.downsample = tnn.Identity()
      if downsample:
        self.downsample = tnn.Sequential(LayerNorm2d(cin, eps=1e-6), tnn.Conv2d(cin, dim, 2, 2))
      self.blocks = tnn.Sequential(*[ConvNeXtBlock(dim) for _ in range(depth)])

    def forward(self, x):
      return self.blocks(self.downsample(x))

  class ConvNeXtHead(tnn.Module):
    def __init__(self, dim, num_classes):
      super().__init__()
      self.norm, self.fc = tnn.LayerNorm(dim, eps=1e-6), tnn.Linear(dim, num_classes)

    def forward(self, x):
      return self.fc(self.norm(x.mean(dim=(2, 3))))

  class ConvNeXt(tnn.Module):  # timm's ConvNeXt (no conv_mlp), eval mode
    def __init__(self, depths, dims, num_classes):
      super().__init__()
      self.stem = tnn.Sequential(tnn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))
      cins = (dims[0],) + tuple(dims[:-1])
      self.stages = tnn.Sequential(*[ConvNeXtStage(c, d, n, i > 0) for i, (c, d, n) in enumerate(zip(cins, dims, depths))])
      self.head = ConvNeXtHead(dims[-1], num_classes)

    def forward(self, x):
      return self.head(self.stages(self.stem(x)))

  return torch, {"resnet18": functools.partial(ResNet, BasicBlock), "resnet50": functools.partial(ResNet, Bottleneck),
                 "deit_s": DeiT, "convnext_atto": ConvNeXt}


def randomize(torch, module):
  """Random values for every parameter and batch-norm statistic, so the comparison sees each of them."""
  generator = torch.Generator().manual_seed(0)
  with torch.no_grad():
    for name, tensor in module.state_dict().items():
      if tensor.is_floating_point():
        values = torch.randn(tensor.shape, generator=generator) * 0.2
        tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
  return module.eval()


# (registry name, our settings, torch constructor arguments, image side, file suffix)
CASES = [
    ("resnet18", dict(widths=(8, 8, 16, 16)), dict(stage_sizes=(2, 2, 2, 2), widths=(8, 8, 16, 16)), 32, ".pth"),
    ("resnet50", dict(stage_sizes=(1, 2, 1, 1), widths=(8, 8, 16, 16)),
     dict(stage_sizes=(1, 2, 1, 1), widths=(8, 8, 16, 16)), 32, ".pth"),
    ("deit_s", dict(embed_dim=16, depth=4, num_heads=2, patch_size=4, num_stages=2, distilled=True),
     dict(dim=16, depth=4, heads=2, patch=4, tokens=16, distilled=True), 16, ".safetensors"),
    ("convnext_atto", dict(depths=(1, 2, 1, 1), dims=(8, 8, 16, 16)),
     dict(depths=(1, 2, 1, 1), dims=(8, 8, 16, 16)), 32, ".bin"),
]


def save(torch, module, path):
  if path.endswith(".safetensors"):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    safetensors_numpy.save_file({k: v.numpy() for k, v in module.state_dict().items()}, path)
  else:
    torch.save({"model": module.state_dict()}, path)  # wrapped, as DeiT's releases are

def reference_images(side: int) -> np.ndarray:
  """The fixed input images [2, side, side, 3] float32 the reference logits are computed on."""
  return np.random.default_rng(0).standard_normal((2, side, side, 3)).astype(np.float32)


def pool_input(side: int) -> np.ndarray:
  return np.random.default_rng(0).standard_normal((2, side, side, 3)).astype(np.float32)


def torch_logits(torch, module, images: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return module(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()


def torch_adaptive_pool(torch, x: np.ndarray, size: int) -> np.ndarray:
  """torch's AdaptiveAvgPool2d on NHWC input, as NHWC."""
  return torch.nn.AdaptiveAvgPool2d(size)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)


def main():
  import torch  # pylint: disable=import-outside-toplevel
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel
  _, references = torch_modules()
  os.makedirs(DATA_DIR, exist_ok=True)
  arrays = {}
  for name, _, torch_settings, side, _ in CASES:
    reference = randomize(torch, references[name](num_classes=NUM_CLASSES, **torch_settings))
    save_file({k: v.numpy() for k, v in reference.state_dict().items()},
              os.path.join(DATA_DIR, f"{name}.safetensors"))
    arrays[f"logits_{name}"] = torch_logits(torch, reference, reference_images(side))
  for side, size in POOL_CASES:
    arrays[f"pool_{side}_{size}"] = torch_adaptive_pool(torch, pool_input(side), size)
  np.savez(os.path.join(DATA_DIR, "references.npz"), torch_version=torch.__version__, **arrays)
  print(f"wrote {len(CASES)} state dicts and references.npz into {DATA_DIR} with torch {torch.__version__}")


if __name__ == "__main__":
  main()
