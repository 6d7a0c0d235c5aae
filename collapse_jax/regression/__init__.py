"""Linear regression refitted to its own labels (Gerstgrasser et al. 2024, "Is model collapse
inevitable?"; Dohmatob et al. 2024, "Model collapse demystified").

Each generation labels a design X (T × d) with the previous fit plus N(0, σ²) noise and refits
least squares (or ridge). Replacing the data makes the test error grow linearly, E‖ŵ_n − w*‖² =
n σ² d/(T − d − 1); accumulating every generation's rows keeps it bounded (docs/THEORY.md §5.1).

    >>> from collapse_jax import regression
    >>> r = regression.simulate(dim=5, samples=20, generations=30, chains=200, progress=False)
    >>> r.metrics["test_error"].shape
    (31, 200)

The package: ``kernel`` (the pure step), ``theory`` (closed forms), ``simulate`` (the driver),
``plots`` and ``cli``.
"""

from .cli import add_cli
from .kernel import METRICS, RegressionKernel
from .plots import plot
from .simulate import DESIGNS, SWEEP, prepare, shared_draws, simulate
from .theory import accumulate_bound, fixed_design, fresh_design, predictions, replace_linear

__all__ = ["simulate", "plot", "add_cli", "prepare", "shared_draws", "RegressionKernel", "METRICS", "DESIGNS",
           "predictions", "fresh_design", "fixed_design", "replace_linear", "accumulate_bound"]
