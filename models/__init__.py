"""advex.models: learned transition models ``f(s, a) -> s'`` (delta-predicting, normalised)."""

from advex.models.base import ModelFileError, ModelInputError, TransitionModel
from advex.models.ensemble import EnsembleConfig, EnsembleLinear, EnsembleModel
from advex.models.factory import (
    MODEL_KINDS,
    ModelConfig,
    UnknownModelKindError,
    list_model_kinds,
    make_model,
)
from advex.models.mlp import MLPConfig, MLPModel
from advex.models.normalizer import Normalizer
from advex.models.training import (
    TrainConfig,
    TrainHistory,
    TrainingDivergedError,
    fit_model,
)

__all__ = [
    "MODEL_KINDS",
    "EnsembleConfig",
    "EnsembleLinear",
    "EnsembleModel",
    "MLPConfig",
    "MLPModel",
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
