"""Multivariate Gaussian recursive fitting (the paper's Theorem 3.1), exact at any sample size.

Generation i fits N(μ_{i+1}, Σ_{i+1}) to M_i points drawn from the previous fit (mixed with the
original data D_0 when γ > 0; pooled with all earlier data under the accumulate workflows). Two
exact samplers of one law: sufficient statistics (cost independent of M; the default) and explicit
points (any D_0, accumulate-subsample, the median location ``location="median"``, singular fits
with M ≤ d). See docs/THEORY.md §3 for the closed forms checked against
simulation in ``theory/gaussian.py``.

    >>> from collapse_jax import gaussian
    >>> r = gaussian.simulate([0.0, 0.0], 1.0, samples=20, generations=50, chains=200, progress=False)
    >>> r.metrics["w2"].shape, r.final["cov"].shape
    ((51, 200), (200, 2, 2))

The package: ``kernel`` (the pure steps and metrics), ``original`` (D_0), ``theory`` (closed
forms), ``simulate`` (the driver), ``plots`` and ``cli``.
"""

from .cli import add_cli
from .kernel import PointsKernel, StatsKernel, covariance_of, spectral_rows
from .original import Original, data_original, make_original, mixture_original
from .plots import plot
from .simulate import ESTIMATORS, LOCATIONS, SAMPLERS, SWEEP, compare_schedules, prepare, simulate
from .theory import (c4, divisor, eigen_rates, kappa, logdet_variance_step, median_mean_sq, median_second_moment,
                     moment_predictions, predictions, w2_first_order, w2_gaussian_reference)

__all__ = ["simulate", "plot", "add_cli", "prepare", "compare_schedules", "Original", "make_original",
           "mixture_original", "data_original", "StatsKernel", "PointsKernel", "covariance_of", "spectral_rows", "predictions",
           "moment_predictions", "kappa", "c4", "divisor", "eigen_rates", "logdet_variance_step", "w2_first_order",
           "w2_gaussian_reference", "median_second_moment", "median_mean_sq", "ESTIMATORS", "SAMPLERS", "LOCATIONS"]
