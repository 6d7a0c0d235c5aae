"""Gaussian kernel density estimates refitted to their own samples (Kazdan et al. 2024, "Collapse
or thrive?").

Each generation fits a KDE to its M points and samples the next M from it (resample a centre, add
kernel noise). With a fixed bandwidth h in 1-D, E Var KDE_t = s²(1 − 1/M)^t + h² Σ_{j<t}(1 − 1/M)^j:
the data's own spread is forgotten geometrically and replaced by accumulated kernel noise, while
the KDE's centres coalesce onto few ancestors (docs/THEORY.md §5.2).

    >>> from collapse_jax import kde
    >>> r = kde.simulate(0.0, 1.0, bandwidth=0.3, samples=50, generations=20, chains=200, progress=False)
    >>> r.metrics["variance"].shape
    (21, 200)

The package: ``kernel`` (the pure step), ``theory`` (closed forms), ``simulate`` (the driver),
``plots`` and ``cli``.
"""

from .cli import add_cli
from .kernel import METRICS, RULES, KDEKernel, rule_factor
from .plots import plot
from .simulate import SWEEP, prepare, simulate
from .theory import fixed_bandwidth_replace, kernel_terms, moments, predictions

__all__ = ["simulate", "plot", "add_cli", "prepare", "KDEKernel", "METRICS", "RULES", "rule_factor", "predictions",
           "moments", "kernel_terms", "fixed_bandwidth_replace"]
