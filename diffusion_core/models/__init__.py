"""Networks only: the denoisers, model(x_t, t, labels) with the sampler's denoiser signature, and the judge's CNN."""

from .classifier import CharacterClassifier, ClassifierConfig
from .embeddings import FourierFeatures, SinusoidalTimeEmbedding
from .mlp import FiLMMLP, MLPConfig
from .unet import UNet, UNetConfig

__all__ = [
    "CharacterClassifier",
    "ClassifierConfig",
    "FiLMMLP",
    "FourierFeatures",
    "MLPConfig",
    "SinusoidalTimeEmbedding",
    "UNet",
    "UNetConfig",
]
