"""Gaussian mixtures refitted by EM on their own samples (the paper's SI experiment, THEORY.md §4.1).

The notebook fits scikit-learn's ``GaussianMixture(2, covariance_type='full', tol=1e-5,
max_iter=2000)`` to 1000 points of one 2-D N(0, I) blob, samples 1000 points from the fit, refits,
and repeats for 2000 generations. Here the same EM runs in JAX for many chains at once, under the
replace, accumulate and accumulate-subsample workflows, with real data mixed in by a weight that
may change over the generations.

    >>> from collapse_jax import gmm
    >>> r = gmm.simulate("blob", samples=200, generations=5, chains=4, progress=False)
    >>> r.metrics["l2"].shape, r.final["covs"].shape
    ((6, 4), (4, 2, 2, 2))

The package: ``em`` (the mixture: densities, k-means++, EM as an iteration, sampling, the L2
distance), ``kernel`` (one generation on the kernel contract), ``data`` (presets, files),
``simulate`` (the driver), ``plots`` and ``cli``.
"""

from .cli import add_cli
from .data import PRESETS, load_data
from .em import (EMFit, GMM, component_logpdf, component_std, fit_em, init_from_labels, kmeans_pp, l2_squared,
                 loglik, n_parameters, sample)
from .kernel import GMMKernel
from .plots import plot, snapshot_samples
from .simulate import INITS, SCHEDULERS, prepare, simulate

__all__ = ["GMM", "EMFit", "PRESETS", "fit_em", "kmeans_pp", "init_from_labels", "sample", "loglik",
           "component_logpdf", "l2_squared", "component_std", "n_parameters", "simulate", "prepare", "load_data",
           "plot", "snapshot_samples", "add_cli", "GMMKernel", "INITS", "SCHEDULERS"]
