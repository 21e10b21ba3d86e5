"""Denoising networks: model(x_t, t, labels) with the sampler's denoiser signature; and the EMNIST judge."""

from .classifier import CharacterClassifier, ClassifierConfig, ClassifierLoadError, load_classifier
from .embeddings import FourierFeatures, SinusoidalTimeEmbedding
from .mlp import FiLMMLP, MLPConfig
from .unet import UNet, UNetConfig

__all__ = [
    "CharacterClassifier",
    "ClassifierConfig",
    "ClassifierLoadError",
    "FiLMMLP",
    "FourierFeatures",
    "MLPConfig",
    "SinusoidalTimeEmbedding",
    "UNet",
    "UNetConfig",
    "load_classifier",
]
