"""The model registry: `config.model.name` -> a constructor taking `num_classes` and the model's settings."""

import functools

from jaxshort.models.convnext import CONVNEXT_ATTO, CONVNEXT_NANO, CONVNEXT_T, ConvNeXt
from jaxshort.models.resnet import RESNET18_STAGES, RESNET50_STAGES, ResNet
from jaxshort.models.simple import MLP, SmallCNN
from jaxshort.models.vgg import VGG11_DEPTHS, VGG16_DEPTHS, VGG
from jaxshort.models.vit import DeiT
from jaxshort.models.vae import ChromaVAE, SitarVAE
from jaxshort.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("mlp")(MLP)
MODELS.register("small_cnn")(SmallCNN)
MODELS.register("vgg11")(functools.partial(VGG, depths=VGG11_DEPTHS))
MODELS.register("vgg16")(functools.partial(VGG, depths=VGG16_DEPTHS))
MODELS.register("vgg11_bn")(functools.partial(VGG, depths=VGG11_DEPTHS, batch_norm=True))
MODELS.register("vgg16_bn")(functools.partial(VGG, depths=VGG16_DEPTHS, batch_norm=True))
MODELS.register("resnet18")(functools.partial(ResNet, stage_sizes=RESNET18_STAGES))
MODELS.register("resnet50")(functools.partial(ResNet, stage_sizes=RESNET50_STAGES, bottleneck=True))
MODELS.register("deit_ti")(functools.partial(DeiT, embed_dim=192, num_heads=3))
MODELS.register("deit_s")(functools.partial(DeiT, embed_dim=384, num_heads=6))
MODELS.register("convnext_t")(functools.partial(ConvNeXt, **CONVNEXT_T))
MODELS.register("convnext_nano")(functools.partial(ConvNeXt, **CONVNEXT_NANO))
MODELS.register("convnext_atto")(functools.partial(ConvNeXt, **CONVNEXT_ATTO))
MODELS.register("sitar_vae")(SitarVAE)
MODELS.register("chroma_vae")(ChromaVAE)
