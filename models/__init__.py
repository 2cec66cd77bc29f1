"""advex.models: learned transition models ``f(s, a) -> s'`` (delta-predicting, normalised)
and the generative modules (GAN, VAE, DRAW) for learned state/observation modelling."""

from advex.models.base import ModelFileError, ModelInputError, TransitionModel
from advex.models.cgan import CGANConfig, CGANModel
from advex.models.draw import DRAW, DRAWConfig, DRAWHistory, DRAWOutput
from advex.models.ensemble import EnsembleConfig, EnsembleLinear, EnsembleModel
from advex.models.factory import (
    MODEL_KINDS,
    ModelConfig,
    UnknownModelKindError,
    list_model_kinds,
    make_model,
)
from advex.models.gan import GAN, GANConfig, GANHistory, discriminator_loss, generator_loss
from advex.models.generative_data import GenerativeCheckpointError, NonFiniteLossError
from advex.models.mlp import MLPConfig, MLPModel
from advex.models.normalizer import Normalizer
from advex.models.training import (
    TrainConfig,
    TrainHistory,
    TrainingDivergedError,
    fit_model,
)
from advex.models.vae import (
    VAE,
    VAEConfig,
    VAEHistory,
    compare_gradient_estimators,
    pathwise_gradient,
    score_function_gradient,
)

__all__ = [
    "DRAW",
    "DRAWConfig",
    "DRAWHistory",
    "DRAWOutput",
    "GAN",
    "GANConfig",
    "GANHistory",
    "GenerativeCheckpointError",
    "NonFiniteLossError",
    "VAE",
    "VAEConfig",
    "VAEHistory",
    "compare_gradient_estimators",
    "discriminator_loss",
    "generator_loss",
    "pathwise_gradient",
    "score_function_gradient",
    "MODEL_KINDS",
    "EnsembleConfig",
    "EnsembleLinear",
    "EnsembleModel",
    "MLPConfig",
    "MLPModel",
    "CGANConfig",
    "CGANModel",
    "ModelConfig",
    "ModelFileError",
    "ModelInputError",
    "Normalizer",
    "TrainConfig",
    "TrainHistory",
    "TrainingDivergedError",
    "TransitionModel",
    "UnknownModelKindError",
    "fit_model",
    "list_model_kinds",
    "make_model",
]
