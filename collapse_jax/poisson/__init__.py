"""Poisson rates refitted by their own sample means (Suresh et al., "Rate of model collapse in
recursive training", 2024).

Each generation draws M_t points from Poisson(λ_t) and refits λ_{t+1} by their mean. With constant
M the pooled count S_t = M λ_t is a critical Galton–Watson process with Poisson(1) offspring: E λ_t
stays λ_0, Var λ_t = t λ_0/M, and every chain is absorbed at λ = 0 (docs/THEORY.md §5.3).

    >>> from collapse_jax import poisson
    >>> r = poisson.simulate(5.0, samples=10, generations=50, chains=500, progress=False)
    >>> r.metrics["rate"].shape
    (51, 500)

The package: ``kernel`` (the pure step and the exact Poisson sampler), ``theory`` (closed forms),
``simulate`` (the driver), ``plots`` and ``cli``.
"""

from .cli import add_cli
from .kernel import METRICS, PoissonKernel, log_poisson_pmf, poisson_lanes
from .plots import plot
from .simulate import SWEEP, prepare, simulate
from .theory import predictions, rate_moments, survival_bounds, zero_probability

__all__ = ["simulate", "plot", "add_cli", "prepare", "PoissonKernel", "METRICS", "poisson_lanes", "log_poisson_pmf",
           "predictions",
           "rate_moments", "zero_probability", "survival_bounds"]
