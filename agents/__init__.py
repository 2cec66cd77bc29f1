"""advex.agents: planners that act through a learned model.

- :class:`ModelEnv`: batched gym-like wrapper around ``model.predict`` plus task reward and
  termination functions, so planners and the adversary run on real or learned dynamics.
- Trajectory optimisers (:func:`make_optimizer`): random shooting, CEM, MPPI; they see only an
  objective over ``N x H x A`` action sequences.
- :class:`MPCAgent`: receding-horizon control with one of those optimisers.
"""

from advex.agents.model_env import ModelEnv, ModelEnvError, PredictsNextState
from advex.agents.mpc import MPCAgent, MPCConfig, MPCInputError
from advex.agents.optimizers import (
    OPTIMIZERS,
    CEMConfig,
    CEMOptimizer,
    MPPIConfig,
    MPPIOptimizer,
    Objective,
    OptimizerConfig,
    OptimizerShapeError,
    RandomShootingConfig,
    RandomShootingOptimizer,
    TrajectoryOptimizer,
    UnknownOptimizerError,
    list_optimizers,
    make_optimizer,
)

__all__ = [
    "OPTIMIZERS",
    "CEMConfig",
    "CEMOptimizer",
    "MPCAgent",
    "MPCConfig",
    "MPCInputError",
    "MPPIConfig",
    "MPPIOptimizer",
    "ModelEnv",
    "ModelEnvError",
    "Objective",
    "OptimizerConfig",
    "OptimizerShapeError",
    "PredictsNextState",
    "RandomShootingConfig",
    "RandomShootingOptimizer",
    "TrajectoryOptimizer",
    "UnknownOptimizerError",
    "list_optimizers",
    "make_optimizer",
]
