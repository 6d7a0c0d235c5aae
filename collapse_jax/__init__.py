"""collapse-jax: model collapse simulated, verified and reproduced in JAX.

Families are imported lazily (``collapse_jax.discrete``, ``collapse_jax.gaussian``, ...), so
``import collapse_jax`` is cheap and a missing optional dependency only affects its own family.
"""

from .core.devices import use_cpu_cores
from .core.errors import InputError
from .core.process import Mixing, Process, Schedule
from .core.results import SimulationResult

__version__ = "0.1.0"
__all__ = ["use_cpu_cores", "InputError", "Mixing", "Process", "Schedule", "SimulationResult", "__version__"]
