"""Gaussian mixtures refitted by EM on their own samples (THEORY.md §4.1), vectorised over chains.

The paper's notebook fits sklearn's ``GaussianMixture(2, covariance_type='full', tol=1e-5,
max_iter=2000)`` to 1000 points of one 2-D N(0, I) blob, samples 1000 points from the fit, refits,
and repeats for 2000 generations. Here the same EM runs in JAX: one pure fit (:func:`fit_em`),
``vmap``-ed over chains inside the shared generation loop (:mod:`collapse_jax.core.engine`).

EM follows sklearn's algorithm step for step, so that a fit from the same initialisation agrees:

- M-step: ``n_k = sum_n r_nk + 10 eps``; means ``sum r x / n_k``; covariances from centred data
  plus ``reg_covar * I``; weights ``n_k / sum n_k``;
- convergence: the change of the mean log-likelihood (evaluated before each M-step) below ``tol``.

Under ``vmap`` the ``while_loop`` runs until the slowest chain has converged; a converged chain's
parameters are held fixed (JAX selects the old carry where a chain's predicate is false), so the
answer per chain does not depend on which other chains share the batch.

Sample sizes that vary by generation (a schedule) are handled with a mask over a buffer of the
largest size: masked points have weight zero in k-means and EM.
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .core import engine
from .core.errors import InputError, as_float, as_int, choice, require
from .core.process import Process
from .core.results import SimulationResult

LOG_2PI = math.log(2.0 * math.pi)
INITS = ("kmeans++", "warm")
SNAPSHOT_GENERATIONS = (0, 50, 100, 150, 200, 350, 2000)

# Presets: the true distribution the real data are drawn from (weights, means, covariances).
PRESETS: dict[str, tuple[list[float], list[list[float]], list[list[list[float]]]]] = {
    # The official notebook: make_blobs(centers=[[0, 0]], cluster_std=1), i.e. one 2-D N(0, I) blob.
    "blob": ([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]]),
    # The paper's "two artificially-generated Gaussians" (centres not given; ours are 4 sd apart).
    "two-gaussians": ([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]] * 2),
}


class GMM(NamedTuple):
    """A Gaussian mixture: weights (K,), means (K, d), full covariances (K, d, d)."""

    weights: jax.Array
    means: jax.Array
    covs: jax.Array


class EMFit(NamedTuple):
    """One EM fit. ``loglik`` is the mean log-likelihood per sample of the returned parameters;
    ``history`` (when asked for) the mean log-likelihood before each M-step, NaN after the last."""

    weights: jax.Array
    means: jax.Array
    covs: jax.Array
    loglik: jax.Array
    iterations: jax.Array
    converged: jax.Array
    history: jax.Array | None = None

    @property
    def gmm(self) -> GMM:
        return GMM(self.weights, self.means, self.covs)


# ---------------------------------------------------------------------------------------------
# Densities, EM, k-means++ (pure, single mixture; vmap over chains)
# ---------------------------------------------------------------------------------------------


UNROLL_DIMS = 4  # up to this dimension, Cholesky factors are unrolled into elementwise arithmetic


def _cholesky(cov_dd: jax.Array) -> jax.Array:
    """Lower Cholesky factor of (..., d, d); written out elementwise for small d, because batched
    LAPACK calls on 2x2 matrices under ``vmap`` cost far more on a CPU than the arithmetic itself."""
    d = cov_dd.shape[-1]
    if d > UNROLL_DIMS:
        return jnp.linalg.cholesky(cov_dd)
    zero = jnp.zeros_like(cov_dd[..., 0, 0])
    L = [[zero] * d for _ in range(d)]
    for j in range(d):
        L[j][j] = jnp.sqrt(cov_dd[..., j, j] - sum((L[j][k] ** 2 for k in range(j)), zero))
        for i in range(j + 1, d):
            L[i][j] = (cov_dd[..., i, j] - sum((L[i][k] * L[j][k] for k in range(j)), zero)) / L[j][j]
    return jnp.stack([jnp.stack(row, axis=-1) for row in L], axis=-2)


def _chol_factor(cov_dd: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inverse Cholesky factor W (W Sigma W^T = I, lower triangular) and log det Sigma."""
    d = cov_dd.shape[-1]
    chol = _cholesky(cov_dd)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    if d > UNROLL_DIMS:
        eye = jnp.broadcast_to(jnp.eye(d, dtype=cov_dd.dtype), cov_dd.shape)
        return jax.scipy.linalg.solve_triangular(chol, eye, lower=True), logdet
    zero = jnp.zeros_like(cov_dd[..., 0, 0])
    W = [[zero] * d for _ in range(d)]  # forward substitution, written out
    for i in range(d):
        W[i][i] = 1.0 / chol[..., i, i]
        for j in range(i):
            W[i][j] = -sum((chol[..., i, k] * W[k][j] for k in range(j, i)), zero) / chol[..., i, i]
    return jnp.stack([jnp.stack(row, axis=-1) for row in W], axis=-2), logdet


def _gauss_logpdf(diff_d: jax.Array, cov_dd: jax.Array) -> jax.Array:
    """log N(diff; 0, cov) for one difference vector (d,) and one covariance (d, d)."""
    d = cov_dd.shape[-1]
    inv, logdet = _chol_factor(cov_dd)
    z = inv @ diff_d
    return -0.5 * (d * LOG_2PI + logdet + jnp.sum(z * z))


# Internally data are stored as (d, N): the long sample axis is the minor (vectorised) one.


def _logprob_KN(gmm: GMM, X_dN: jax.Array) -> jax.Array:
    """log w_k + log N(x_n; mu_k, Sigma_k), shape (K, N)."""
    d = X_dN.shape[0]
    W_Kdd, logdet_K = _chol_factor(gmm.covs)
    diff_KdN = X_dN[None, :, :] - gmm.means[:, :, None]
    if d <= UNROLL_DIMS:
        maha_KN = sum(sum(W_Kdd[:, i, j, None] * diff_KdN[:, j] for j in range(i + 1)) ** 2 for i in range(d))
    else:
        z_KdN = jnp.einsum("kij,kjn->kin", W_Kdd, diff_KdN)
        maha_KN = jnp.sum(z_KdN * z_KdN, axis=1)
    return jnp.log(gmm.weights)[:, None] - 0.5 * (d * LOG_2PI + logdet_K[:, None] + maha_KN)


def _mean_ll(lse_N: jax.Array, mask_N: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(mask_N, lse_N, 0.0)) / jnp.sum(mask_N)


def component_logpdf(gmm: GMM, X_Nd: jax.Array) -> jax.Array:
    """log w_k + log N(x_n; mu_k, Sigma_k) for data (N, d); shape (K, N)."""
    return _logprob_KN(gmm, jnp.asarray(X_Nd).T)


def loglik(gmm: GMM, X_Nd: jax.Array, mask_N: jax.Array | None = None) -> jax.Array:
    """Mean log-likelihood per (unmasked) sample of data (N, d)."""
    lse_N = jax.nn.logsumexp(component_logpdf(gmm, X_Nd), axis=0)
    return jnp.mean(lse_N) if mask_N is None else _mean_ll(lse_N, mask_N)


def _m_step(X_dN: jax.Array, resp_KN: jax.Array, reg_covar: float) -> GMM:
    """sklearn's ``_estimate_gaussian_parameters`` for full covariances (resp already masked)."""
    eps = jnp.finfo(X_dN.dtype).eps
    nk_K = jnp.sum(resp_KN, axis=1) + 10.0 * eps
    means_Kd = jnp.sum(resp_KN[:, None, :] * X_dN[None, :, :], axis=-1) / nk_K[:, None]
    diff_KdN = X_dN[None, :, :] - means_Kd[:, :, None]
    weighted_KdN = resp_KN[:, None, :] * diff_KdN
    d = X_dN.shape[0]
    if d <= UNROLL_DIMS:  # d(d+1)/2 reductions along the sample axis beat a batched tiny matmul on a CPU
        cov = [[None] * d for _ in range(d)]
        for i in range(d):
            for j in range(i, d):
                cov[i][j] = cov[j][i] = jnp.sum(weighted_KdN[:, i] * diff_KdN[:, j], axis=-1)
        covs_Kdd = jnp.stack([jnp.stack(row, axis=-1) for row in cov], axis=-2) / nk_K[:, None, None]
    else:
        covs_Kdd = jnp.einsum("kin,kjn->kij", weighted_KdN, diff_KdN) / nk_K[:, None, None]
    d = X_dN.shape[0]
    covs_Kdd = covs_Kdd + reg_covar * jnp.eye(d, dtype=X_dN.dtype)
    return GMM(nk_K / jnp.sum(nk_K), means_Kd, covs_Kdd)


def _logsumexp_K(lp_KN: jax.Array) -> jax.Array:
    """log sum_k exp over the (short) component axis; entries are finite (weights > 0)."""
    top_N = jnp.max(lp_KN, axis=0)
    return top_N + jnp.log(jnp.sum(jnp.exp(lp_KN - top_N[None, :]), axis=0))


def _e_step(gmm: GMM, X_dN: jax.Array, mask_N: jax.Array) -> tuple[jax.Array, jax.Array]:
    lp_KN = _logprob_KN(gmm, X_dN)
    top_N = jnp.max(lp_KN, axis=0)
    e_KN = jnp.exp(lp_KN - top_N[None, :])  # one exp per point and component serves both outputs
    total_N = jnp.sum(e_KN, axis=0)
    lse_N = top_N + jnp.log(total_N)
    resp_KN = e_KN * (mask_N / total_N)[None, :]
    return _mean_ll(lse_N, mask_N), resp_KN


def _em(init: GMM, X_dN, mask_N, *, tol, max_iter, reg_covar, history: bool) -> EMFit:
    dtype = X_dN.dtype
    hist0 = jnp.full((max_iter,), jnp.nan, dtype) if history else jnp.zeros((0,), dtype)

    def cond(carry):
        _, _, it, converged, _ = carry
        return jnp.logical_and(~converged, it < max_iter)

    def body(carry):
        gmm, prev, it, _, hist = carry
        mean_ll, resp_KN = _e_step(gmm, X_dN, mask_N)
        gmm = _m_step(X_dN, resp_KN, reg_covar)
        converged = jnp.abs(mean_ll - prev) < tol
        if history:
            hist = hist.at[it].set(mean_ll)
        return gmm, mean_ll, it + 1, converged, hist

    carry = (init, jnp.asarray(-jnp.inf, dtype), jnp.asarray(0, jnp.int32), jnp.asarray(False), hist0)
    gmm, _, it, converged, hist = jax.lax.while_loop(cond, body, carry)
    final_ll = _mean_ll(_logsumexp_K(_logprob_KN(gmm, X_dN)), mask_N)
    return EMFit(gmm.weights, gmm.means, gmm.covs, final_ll, it, converged, hist if history else None)


def _draw_index(key: jax.Array, weights_N: jax.Array) -> jax.Array:
    """One index with probability proportional to non-negative weights, by inverting the cumulative
    sum with a single uniform (a categorical draw would spend one random number per candidate)."""
    cum = jnp.cumsum(weights_N)
    target = jax.random.uniform(key, (), cum.dtype) * cum[-1]
    return jnp.minimum(jnp.sum(cum <= target), weights_N.shape[0] - 1)


def _kmeans_seed(key: jax.Array, X_dN: jax.Array, components: int, mask_N: jax.Array) -> jax.Array:
    """k-means++ seeding: the first centre uniformly, each next one with probability ~ D(x)^2."""
    keys = jax.random.split(key, components)
    weight_N = mask_N.astype(X_dN.dtype)
    centers = [X_dN[:, _draw_index(keys[0], weight_N)]]
    for k in range(1, components):
        d2_N = jnp.min(_sq_dist_KN(X_dN, jnp.stack(centers)), axis=0)
        centers.append(X_dN[:, _draw_index(keys[k], d2_N * weight_N)])
    return jnp.stack(centers)


def _sq_dist_KN(X_dN: jax.Array, centers_Kd: jax.Array) -> jax.Array:
    return jnp.sum((X_dN[None, :, :] - centers_Kd[:, :, None]) ** 2, axis=1)


def _assign(X_dN: jax.Array, centers_Kd: jax.Array) -> jax.Array:
    return jnp.argmin(_sq_dist_KN(X_dN, centers_Kd), axis=0).astype(jnp.int32)


def _update_centers(X_dN, labels_N, mask_N, centers_Kd) -> jax.Array:
    """Lloyd's update: each centre moves to the mean of its points (an empty cluster stays put).
    The mean is computed exactly as the M-step computes it, so one M-step can serve both."""
    components = centers_Kd.shape[0]
    onehot_KN = jax.nn.one_hot(labels_N, components, dtype=X_dN.dtype, axis=0) * mask_N[None, :]
    return _centers_from(_m_step(X_dN, onehot_KN, 0.0).means, onehot_KN, centers_Kd)


def _centers_from(means_Kd, onehot_KN, centers_Kd) -> jax.Array:
    return jnp.where(jnp.sum(onehot_KN, axis=1)[:, None] > 0, means_Kd, centers_Kd)


def _kmeans(key: jax.Array, X_dN: jax.Array, components: int, mask_N: jax.Array, iterations: int) -> jax.Array:
    """k-means++ seeding, then Lloyd iterations until no assignment changes; labels (N,) int32."""

    def body(carry):
        c_Kd, labels_N, it, _ = carry
        c_Kd = _update_centers(X_dN, labels_N, mask_N, c_Kd)
        new_labels = _assign(X_dN, c_Kd)
        return c_Kd, new_labels, it + 1, jnp.any((new_labels != labels_N) & mask_N)

    centers_Kd = _kmeans_seed(key, X_dN, components, mask_N)
    carry = (centers_Kd, _assign(X_dN, centers_Kd), jnp.asarray(0), jnp.asarray(True))
    carry = jax.lax.while_loop(lambda c: jnp.logical_and(c[3], c[2] < iterations), body, carry)
    return carry[1]


def _init_from_labels(X_dN, labels_N, components: int, reg_covar: float, mask_N) -> GMM:
    resp_KN = jax.nn.one_hot(labels_N, components, dtype=X_dN.dtype, axis=0) * mask_N[None, :]
    return _m_step(X_dN, resp_KN, reg_covar)


def kmeans_pp(key: jax.Array, X_Nd: jax.Array, components: int, mask_N: jax.Array | None = None,
              iterations: int = 100) -> jax.Array:
    """k-means++ seeding followed by Lloyd iterations (until assignments stop changing) on data
    (N, d); returns the hard assignment of every point, shape (N,) int32."""
    X_Nd = jnp.asarray(X_Nd)
    mask_N = jnp.ones(X_Nd.shape[:1], bool) if mask_N is None else jnp.asarray(mask_N, bool)
    return _kmeans(key, X_Nd.T, components, mask_N, iterations)


def init_from_labels(X_Nd, labels_N, components: int, reg_covar: float, mask_N=None) -> GMM:
    """Parameters from hard assignments of data (N, d) (sklearn's initialisation after k-means)."""
    X_Nd = jnp.asarray(X_Nd)
    mask_N = jnp.ones(X_Nd.shape[:1], bool) if mask_N is None else jnp.asarray(mask_N, bool)
    return _init_from_labels(X_Nd.T, labels_N, components, reg_covar, mask_N)


def _check_fit(X_Nd, components, tol, max_iter, reg_covar) -> tuple[int, float, int, float]:
    if X_Nd.ndim != 2:
        raise InputError(f"data must be a 2-D array (samples, dims), got shape {tuple(X_Nd.shape)}")
    components = as_int("components", components, minimum=1)
    tol = as_float("tol", tol, minimum=0.0)
    max_iter = as_int("max_iter", max_iter, minimum=1)
    reg_covar = as_float("reg_covar", reg_covar)
    require(reg_covar > 0, f"reg_covar must be > 0 (it keeps covariances positive definite), got {reg_covar}")
    n, d = X_Nd.shape
    need = n_parameters(components, d)
    require(n >= max(need, components),
            f"{n} samples cannot determine a {components}-component mixture in {d} dimensions "
            f"({need} free parameters); use at least {max(need, components)} samples or fewer components")
    return components, tol, max_iter, reg_covar


def n_parameters(components: int, dims: int) -> int:
    """Free parameters of a full-covariance mixture: weights, means, covariances."""
    return (components - 1) + components * dims + components * dims * (dims + 1) // 2


def fit_em(
    key_or_init: "jax.Array | GMM | tuple",
    X: Any,
    components: int | None = None,
    *,
    tol: float = 1e-5,
    max_iter: int = 2000,
    reg_covar: float = 1e-6,
    mask: Any = None,
    kmeans_iter: int = 100,
    history: bool = False,
) -> EMFit:
    """Fit a full-covariance Gaussian mixture by EM (pure, jittable, vmappable).

    ``key_or_init`` is either a PRNG key (k-means++ initialisation, as sklearn's default) or the
    starting mixture ``GMM(weights, means, covs)`` used as is (as sklearn's ``weights_init``,
    ``means_init``, ``precisions_init``). ``mask`` marks the samples that count (all by default).
    ``history=True`` also returns the mean log-likelihood before every M-step (length max_iter).
    """
    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.float32)
    if X.ndim == 1:
        X = X[:, None]
    is_key = not isinstance(key_or_init, (GMM, tuple, list))
    if not is_key:
        init = GMM(*(jnp.asarray(a, X.dtype) for a in key_or_init))
        components = init.weights.shape[-1] if components is None else components
        require(init.means.shape == (components, X.shape[-1]) and init.covs.shape[-2:] == (X.shape[-1],) * 2,
                f"initial mixture shapes {init.means.shape}, {init.covs.shape} do not match "
                f"{components} components in {X.shape[-1]} dimensions")
    require(components is not None, "components is required when initialising from a key")
    components, tol, max_iter, reg_covar = _check_fit(X, components, tol, max_iter, reg_covar)
    if not isinstance(X, jax.core.Tracer):
        require(bool(jnp.all(jnp.isfinite(X))), "data contain NaN or infinite values")
    mask_N = jnp.ones(X.shape[:1], bool) if mask is None else jnp.asarray(mask, bool)
    if is_key:
        labels = _kmeans(key_or_init, X.T, components, mask_N, kmeans_iter)
        init = _init_from_labels(X.T, labels, components, reg_covar, mask_N)
    return _em(init, X.T, mask_N, tol=tol, max_iter=max_iter, reg_covar=reg_covar, history=history)


def _sample_dN(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    k_comp, k_z = jax.random.split(key)
    d = gmm.means.shape[-1]
    cum_K = jnp.cumsum(gmm.weights)
    u_N = jax.random.uniform(k_comp, (n,), cum_K.dtype) * cum_K[-1]
    comp_N = jnp.minimum(jnp.sum(cum_K[:-1, None] <= u_N[None, :], axis=0), gmm.weights.shape[0] - 1)
    chol_Kdd = _cholesky(gmm.covs)
    z_dN = jax.random.normal(k_z, (d, n), gmm.means.dtype)
    if d <= UNROLL_DIMS:
        return jnp.stack([gmm.means[comp_N, i] + sum(chol_Kdd[comp_N, i, j] * z_dN[j] for j in range(i + 1))
                          for i in range(d)])
    return gmm.means[comp_N].T + jnp.einsum("nij,jn->in", chol_Kdd[comp_N], z_dN)


def sample(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    """n points (n, d) by ancestral sampling: a component per point, then mean + Cholesky factor @ z."""
    return _sample_dN(key, GMM(*(jnp.asarray(a) for a in gmm)), n).T


# ---------------------------------------------------------------------------------------------
# Closed-form squared L2 distance (THEORY.md §4.1)
# ---------------------------------------------------------------------------------------------


def _overlap(a: GMM, b: GMM) -> jax.Array:
    """sum_ij a_i b_j N(mu_i - nu_j; 0, Sigma_i + Lambda_j) = integral of f(x) g(x) dx."""

    def pair(m_a, c_a, m_b, c_b):
        return _gauss_logpdf(m_a - m_b, c_a + c_b)

    inner = jax.vmap(pair, in_axes=(None, None, 0, 0))
    logpdf_KaKb = jax.vmap(inner, in_axes=(0, 0, None, None))(a.means, a.covs, b.means, b.covs)
    return jnp.sum(a.weights[:, None] * b.weights[None, :] * jnp.exp(logpdf_KaKb))


def l2_squared(a: "GMM | tuple", b: "GMM | tuple") -> jax.Array:
    """The squared L2 distance between two mixture densities, integral of (f - g)^2, in closed form.

    Clipped at 0: the exact value is non-negative, and f == g can round to -1e-8.
    """
    a, b = GMM(*a), GMM(*b)
    return jnp.maximum(_overlap(a, a) + _overlap(b, b) - 2.0 * _overlap(a, b), 0.0)


def component_std(gmm: GMM) -> jax.Array:
    """Per-component standard deviation: sqrt(trace(Sigma_k) / d), shape (K,)."""
    d = gmm.covs.shape[-1]
    return jnp.sqrt(jnp.trace(gmm.covs, axis1=-2, axis2=-1) / d)


# ---------------------------------------------------------------------------------------------
# The recursive experiment
# ---------------------------------------------------------------------------------------------


def _as_data(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric array, got {type(value).__name__}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    require(arr.ndim == 2 and arr.shape[0] > 0 and arr.shape[1] > 0,
            f"{name} must be a non-empty array of shape (samples, dims), got shape {arr.shape}")
    require(bool(np.all(np.isfinite(arr))), f"{name} contains NaN or infinite values")
    return arr


def load_data(path: str | Path) -> np.ndarray:
    """Real data from a .npy file or a text/CSV file of numbers (one sample per row)."""
    path = Path(path)
    require(path.is_file(), f"data file {path} does not exist")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read data file {path}: {err}") from None
    return _as_data(f"data in {path}", arr)


KMEANS_ITER = 100
SCHEDULERS = ("async", "sync")
KMEANS, EM, READY, DONE = 0, 1, 2, 3  # phases of a chain in the asynchronous scheduler


class _Chain(NamedTuple):
    """One chain's place in the recursion (asynchronous scheduler); arrays get a leading chain axis."""

    X: jax.Array  # (d, M) data of the generation being fitted; points n.. are padding
    n: jax.Array  # number of valid points
    model: GMM  # the previous generation's fit (the data's source)
    origin: GMM  # the generation-0 fit
    gmm: GMM  # the EM iterate
    centers: jax.Array  # (K, d) k-means centres
    labels: jax.Array  # (M,) k-means assignment (-1 before the first)
    kit: jax.Array  # k-means assignments made
    prev: jax.Array  # mean log-likelihood before the last M-step
    it: jax.Array  # EM iterations done
    converged: jax.Array
    phase: jax.Array  # KMEANS, EM, READY (fit done, waiting to be recorded) or DONE
    g: jax.Array  # generation being fitted (0 = the fit to real data)
    real: jax.Array  # (d, N) this chain's real data when gamma > 0 (presets), else a placeholder


class _Recursion:
    """Static settings of one experiment and the per-chain pieces both schedulers share."""

    def __init__(self, *, components, dims, n_real, sizes, tol, max_iter, reg_covar, init, gamma,
                 true, real_np, held_dN, record_chains):
        self.components, self.dims, self.n_real, self.sizes = components, dims, n_real, sizes
        self.tol, self.max_iter, self.reg_covar, self.init, self.gamma = tol, max_iter, reg_covar, init, gamma
        self.true, self.held_dN, self.record_chains = true, held_dN, record_chains
        self.shared_real = None if real_np is None else jnp.asarray(real_np.T, jnp.float32)
        self.m_buf = int(max(n_real, int(sizes.max(initial=1))))  # one buffer size for every generation
        self.keep_real = gamma > 0 and real_np is None

    # ---- data ----
    def real_data(self, key) -> jax.Array:
        if self.shared_real is not None:
            X = self.shared_real
        else:
            X = _sample_dN(key, self.true, self.n_real)
        return jnp.pad(X, ((0, 0), (0, self.m_buf - self.n_real)))

    def next_data(self, key, model: GMM, real) -> tuple[jax.Array, jax.Array]:
        """Generation t's data from its key: M points of alpha * model + gamma * real; also k_init."""
        k_sample, k_mix, k_pick, k_init = jax.random.split(key, 4)
        X = _sample_dN(k_sample, model, self.m_buf)
        if self.gamma > 0:
            pool = self.shared_real if self.shared_real is not None else real
            from_real = jax.random.uniform(k_mix, (self.m_buf,)) < self.gamma
            idx = jax.random.randint(k_pick, (self.m_buf,), 0, self.n_real)
            X = jnp.where(from_real[None, :], pool[:, idx], X)
        return X, k_init

    def mask(self, n) -> jax.Array:
        return jnp.arange(self.m_buf) < n

    # ---- fitting (synchronous: one whole fit per call) ----
    def fit(self, key, X_dN, mask_N, previous: GMM | None) -> EMFit:
        if previous is None:
            labels = _kmeans(key, X_dN, self.components, mask_N, KMEANS_ITER)
            previous = _init_from_labels(X_dN, labels, self.components, self.reg_covar, mask_N)
        return _em(previous, X_dN, mask_N, tol=self.tol, max_iter=self.max_iter, reg_covar=self.reg_covar,
                   history=False)

    # ---- metrics ----
    def metric_names(self) -> list[str]:
        names = ["l2", "loglik", "real_loglik", "iterations", "converged"]
        return names + [f"weight_{k}" for k in range(self.components)] + [f"std_{k}" for k in range(self.components)]

    def metrics(self, fit: EMFit, origin: GMM) -> dict[str, jax.Array]:
        gmm = fit.gmm
        order = jnp.argsort(-gmm.weights)
        std = component_std(gmm)[order]
        held_ll = jnp.mean(_logsumexp_K(_logprob_KN(gmm, self.held_dN)))
        out = {"l2": l2_squared(origin, gmm), "loglik": fit.loglik, "real_loglik": held_ll,
               "iterations": fit.iterations.astype(jnp.float32), "converged": fit.converged.astype(jnp.float32)}
        for k in range(self.components):
            out[f"weight_{k}"] = gmm.weights[order[k]]
            out[f"std_{k}"] = std[k]
        return out

    # ---- the synchronous scheduler: engine.run_generations, one generation per scan step ----
    def run_sync(self, keys_C, generations, block, progress):
        rec = self.record_chains

        @jax.jit
        def generation0(keys_C):
            def one(key):
                k_data, k_init = jax.random.split(jax.random.fold_in(key, 0))
                X = self.real_data(k_data)
                fit = self.fit(k_init, X, self.mask(self.n_real), None)
                real = X if self.keep_real else jnp.zeros((1, 1), jnp.float32)
                return fit, real

            fit, real = jax.vmap(one)(keys_C)
            return (fit.gmm, fit.gmm, real), jax.vmap(self.metrics)(fit, fit.gmm)

        def step(keys_C, state, x):
            def one(key, model, origin, real):
                X, k_init = self.next_data(key, model, real)
                fit = self.fit(k_init, X, self.mask(x["m"]), model if self.init == "warm" else None)
                return fit.gmm, self.metrics(fit, origin)

            model, origin, real = state
            model, metrics = jax.vmap(one)(keys_C, model, origin, real)
            for name, arr in zip(GMM._fields, model):
                metrics[f"traj_{name}"] = arr[:rec]
            return (model, origin, real), metrics

        state, m0 = generation0(keys_C)
        metrics = {k: np.asarray(v)[None] for k, v in m0.items()}
        traj = {name: np.asarray(a)[None, :rec] for name, a in zip(GMM._fields, state[1])}
        if generations:
            xs = {"t": np.arange(1, generations + 1, dtype=np.int32), "m": self.sizes.astype(np.int32)}
            state, mg = engine.run_generations(step, state, keys_C, xs, block=block, progress=progress,
                                               desc="gmm generations")
            for name in GMM._fields:
                traj[name] = np.concatenate([traj[name], mg.pop(f"traj_{name}")])
            metrics = {k: np.concatenate([metrics[k], mg[k]]) for k in metrics}
        return metrics, traj, GMM(*state[0])

    # ---- the asynchronous scheduler: every chain advances at its own pace ----
    def _start(self, key) -> _Chain:
        k_data, k_init = jax.random.split(jax.random.fold_in(key, 0))
        X = self.real_data(k_data)
        mask = self.mask(self.n_real)
        K, d = self.components, self.dims
        blank = GMM(jnp.full((K,), 1.0 / K), jnp.zeros((K, d)), jnp.broadcast_to(jnp.eye(d), (K, d, d)))
        return _Chain(X=X, n=jnp.asarray(self.n_real, jnp.int32), model=blank, origin=blank, gmm=blank,
                      centers=_kmeans_seed(k_init, X, K, mask), labels=jnp.full((self.m_buf,), -1, jnp.int32),
                      kit=jnp.asarray(0, jnp.int32), prev=jnp.asarray(-jnp.inf, jnp.float32),
                      it=jnp.asarray(0, jnp.int32), converged=jnp.asarray(False),
                      phase=jnp.asarray(KMEANS, jnp.int32), g=jnp.asarray(0, jnp.int32),
                      real=X if self.keep_real else jnp.zeros((1, 1), jnp.float32))

    def _tick(self, ch: _Chain) -> _Chain:
        """One k-means assignment/update or one EM iteration, whichever phase the chain is in.

        The same arithmetic, in the same order, as :func:`_kmeans` followed by :func:`_em`.
        """
        mask = self.mask(ch.n)
        is_km, is_em = ch.phase == KMEANS, ch.phase == EM
        labels = _assign(ch.X, ch.centers)
        kit = ch.kit + 1
        km_go_on = jnp.any((labels != ch.labels) & mask) & (kit <= KMEANS_ITER)
        km_done = is_km & ~km_go_on
        ll, resp_KN = _e_step(ch.gmm, ch.X, mask)
        onehot_KN = jax.nn.one_hot(labels, self.components, dtype=ch.X.dtype, axis=0) * mask[None, :]
        # One M-step serves all three cases: EM (responsibilities), the initial parameters from the
        # final k-means labels, and Lloyd's centre update (its means; the covariances are unused).
        new = _m_step(ch.X, jnp.where(is_km, onehot_KN, resp_KN), self.reg_covar)
        centers = jnp.where(is_km & km_go_on, _centers_from(new.means, onehot_KN, ch.centers), ch.centers)
        converged = jnp.abs(ll - ch.prev) < self.tol
        it = ch.it + 1
        em_stop = is_em & (converged | (it >= self.max_iter))
        return ch._replace(
            centers=centers,
            labels=jnp.where(is_km, labels, ch.labels),
            kit=jnp.where(is_km, kit, ch.kit),
            gmm=jax.tree.map(lambda a, b: jnp.where(km_done | is_em, a, b), new, ch.gmm),
            prev=jnp.where(is_em, ll, jnp.where(km_done, -jnp.inf, ch.prev)),
            it=jnp.where(is_em, it, jnp.where(km_done, 0, ch.it)),
            converged=jnp.where(is_em, converged, ch.converged & ~km_done),
            phase=jnp.where(km_done, EM, jnp.where(em_stop, READY, ch.phase)),
        )

    def _finish(self, ch: _Chain, key, sizes_dev, generations) -> tuple[_Chain, dict[str, jax.Array]]:
        """Record the finished fit of generation g and set up generation g + 1."""
        mask = self.mask(ch.n)
        final_ll = _mean_ll(_logsumexp_K(_logprob_KN(ch.gmm, ch.X)), mask)
        fit = EMFit(*ch.gmm, final_ll, ch.it, ch.converged)
        first = ch.g == 0
        origin = jax.tree.map(lambda a, b: jnp.where(first, a, b), ch.gmm, ch.origin)
        metrics = self.metrics(fit, origin)
        t = ch.g + 1
        X, k_init = self.next_data(jax.random.fold_in(key, t), ch.gmm, ch.real)
        n = sizes_dev[jnp.minimum(ch.g, sizes_dev.shape[0] - 1)]
        warm = self.init == "warm"
        centers = ch.centers if warm else _kmeans_seed(k_init, X, self.components, self.mask(n))
        nxt = ch._replace(X=X, n=n, model=ch.gmm, origin=origin, centers=centers,
                          labels=jnp.full_like(ch.labels, -1), kit=jnp.zeros_like(ch.kit),
                          prev=jnp.full_like(ch.prev, -jnp.inf), it=jnp.zeros_like(ch.it),
                          converged=jnp.zeros_like(ch.converged),
                          phase=jnp.asarray(EM if warm else KMEANS, jnp.int32), g=t)
        done = ch._replace(origin=origin, phase=jnp.asarray(DONE, jnp.int32))
        return jax.tree.map(lambda a, b: jnp.where(t > generations, a, b), done, nxt), metrics

    def run_async(self, keys_C, generations, progress, ticks_per_round=8, rounds_per_call=32):
        chains = keys_C.shape[0]
        rec = self.record_chains
        names = self.metric_names()
        sizes_dev = jnp.asarray(np.concatenate([self.sizes, [1]]), jnp.int32)  # never empty
        K, d = self.components, self.dims
        batch = min(chains, max(8, -(-chains // 4)))

        def one_round(state, bufs, traj):
            state = jax.lax.fori_loop(0, ticks_per_round, lambda _, s: jax.vmap(self._tick)(s), state)
            ready = state.phase == READY

            def finish(args):
                # Only the ready chains (up to `batch` of them; others wait a round) are gathered,
                # recorded and restarted, so the costly step runs on a fraction of the chains.
                state, bufs, traj = args
                idx = jnp.nonzero(ready, size=batch, fill_value=chains)[0]
                sub = jax.tree.map(lambda a: a.at[idx].get(mode="clip"), state)
                new, metrics = jax.vmap(self._finish, in_axes=(0, 0, None, None))(
                    sub, keys_C[jnp.minimum(idx, chains - 1)], sizes_dev, generations)
                bufs = {k: bufs[k].at[sub.g, idx].set(metrics[k], mode="drop") for k in names}
                r_idx = jnp.where(idx < rec, idx, rec)
                traj = {k: traj[k].at[sub.g, r_idx].set(getattr(sub.gmm, k), mode="drop") for k in traj}
                state = jax.tree.map(lambda a, b: a.at[idx].set(b, mode="drop"), state, new)
                return state, bufs, traj

            return jax.lax.cond(jnp.any(ready), finish, lambda a: a, (state, bufs, traj))

        @partial(jax.jit, donate_argnums=(0, 1, 2))
        def run_call(state, bufs, traj):
            def cond(c):
                return (c[0] < rounds_per_call) & jnp.any(c[1].phase != DONE)

            def body(c):
                return (c[0] + 1, *one_round(*c[1:]))

            _, state, bufs, traj = jax.lax.while_loop(cond, body, (0, state, bufs, traj))
            return state, bufs, traj

        state = jax.jit(jax.vmap(self._start))(keys_C)
        state = engine.shard_chains(state, chains)
        bufs = {k: jnp.zeros((generations + 1, chains), jnp.float32) for k in names}
        traj = {"weights": jnp.zeros((generations + 1, rec, K)), "means": jnp.zeros((generations + 1, rec, K, d)),
                "covs": jnp.zeros((generations + 1, rec, K, d, d))}
        bar = engine._progress_bar((generations + 1) * chains, "gmm generations", progress)
        done_before = 0
        try:
            while True:
                state, bufs, traj = run_call(state, bufs, traj)
                phase, g = np.asarray(state.phase), np.asarray(state.g)
                done_now = int(np.sum(np.where(phase == DONE, g + 1, g)))
                bar.update(done_now - done_before)
                done_before = done_now
                if np.all(phase == DONE):
                    break
        finally:
            bar.close()
        metrics = {k: np.asarray(v) for k, v in bufs.items()}
        return metrics, {k: np.asarray(v) for k, v in traj.items()}, GMM(*state.gmm)


def simulate(
    data: "str | np.ndarray" = "blob",
    components: int = 2,
    samples: int | None = None,
    generations: int = 2000,
    chains: int = 16,
    seed: int = 0,
    *,
    tol: float = 1e-5,
    max_iter: int = 2000,
    reg_covar: float = 1e-6,
    init: str = "kmeans++",
    heldout: "int | np.ndarray | None" = 1000,
    schedule: "str | Sequence[int]" = "constant",
    workflow: str = "replace",
    alpha: float | None = None,
    beta: float = 0.0,
    gamma: float = 0.0,
    record_chains: int = 4,
    scheduler: str = "async",
    block: int | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Fit a GMM to real data, then for each generation sample from the fit and refit.

    ``data``: a preset name (``'blob'``: the notebook's one 2-D N(0, I) blob; ``'two-gaussians'``)
    or an array (samples, dims). Presets draw ``samples`` real points per chain (default 1000) and
    ``heldout`` fresh held-out points shared by all chains; an array is shared by all chains, with
    held-out data given as an array (or, when ``heldout`` is not an array, the real data itself).

    Each generation draws M_i points (the schedule) from alpha * (current fit) + gamma * (real data,
    resampled), then refits from k-means++ (``init='kmeans++'``, the notebook's fresh fit) or from the
    previous fit (``init='warm'``). Only the replace workflow with beta = 0 is supported.

    ``scheduler='async'`` (default) lets every chain run its k-means and EM iterations at its own
    pace, so a batch is not held up each generation by its slowest fit; ``'sync'`` runs one generation
    per step of :func:`collapse_jax.core.engine.run_generations`. Both give the same numbers per chain.

    Metrics, shape (generations + 1, chains), row 0 the fit to real data: ``l2`` (squared L2
    distance to the generation-0 fit), ``weight_k`` and ``std_k`` (component k by decreasing
    weight), ``loglik`` (training mean log-likelihood), ``real_loglik`` (held-out real data),
    ``iterations`` and ``converged`` of EM. ``trajectory`` holds every generation's mixture for the
    first ``record_chains`` chains; ``final`` the last mixture of every chain.
    """
    # ---- validate everything before any work --------------------------------------------------
    components = as_int("components", components, minimum=1)
    chains = as_int("chains", chains, minimum=1)
    seed = as_int("seed", seed, minimum=0)
    init = choice("init", init, INITS)
    scheduler = choice("scheduler", scheduler, SCHEDULERS)
    record_chains = min(as_int("record_chains", record_chains, minimum=0), chains)
    preset = true = real_np = None
    if isinstance(data, str):
        preset = choice("preset", data, tuple(PRESETS))
        true = GMM(*(np.asarray(a, np.float64) for a in PRESETS[preset]))
        dims = true.means.shape[1]
        n_real = 1000 if samples is None else as_int("samples", samples, minimum=1)
    else:
        real_np = _as_data("data", data)
        n_real, dims = real_np.shape
    proc = Process.resolve(samples=n_real if samples is None else samples, generations=generations,
                           schedule=schedule, workflow=workflow, alpha=alpha, beta=beta, gamma=gamma)
    require(proc.workflow == "replace",
            f"the GMM experiment supports the replace workflow only, got workflow {proc.workflow!r}")
    require(proc.mixing.beta == 0.0,
            f"the GMM experiment supports beta = 0 only (alpha: new fit, gamma: real data), got beta={beta}")
    sizes = proc.sizes()
    _check_fit(np.zeros((min([n_real, *sizes.tolist()]), dims)), components, tol, max_iter, reg_covar)
    tol, max_iter, reg_covar = float(tol), int(max_iter), float(reg_covar)
    root = engine.root_key(seed)
    if preset is not None:
        n_held = 1000 if heldout is None else as_int("heldout", heldout, minimum=1)
        true_j = GMM(*(jnp.asarray(a, jnp.float32) for a in true))
        held_dN = _sample_dN(jax.random.fold_in(root, 2**31 - 1), true_j, n_held)  # shared, seed only
        held_source = "preset"
    elif heldout is None or isinstance(heldout, (int, np.integer)):
        held_dN, n_held, held_source, true_j = jnp.asarray(real_np.T, jnp.float32), n_real, "data", None
    else:
        held_np = _as_data("heldout", heldout)
        require(held_np.shape[1] == dims, f"heldout has {held_np.shape[1]} dims, data has {dims}")
        held_dN, n_held, held_source, true_j = jnp.asarray(held_np.T, jnp.float32), held_np.shape[0], "array", None

    rec = _Recursion(components=components, dims=dims, n_real=n_real, sizes=sizes, tol=tol, max_iter=max_iter,
                     reg_covar=reg_covar, init=init, gamma=proc.mixing.gamma, true=true_j, real_np=real_np,
                     held_dN=held_dN, record_chains=record_chains)
    keys_C = engine.chain_keys(seed, chains)
    if scheduler == "sync":
        metrics, trajectory, final = rec.run_sync(keys_C, generations, block, progress)
    else:
        metrics, trajectory, final = rec.run_async(keys_C, generations, progress)
    config = {
        "data": preset if preset is not None else f"array{tuple(real_np.shape)}",
        "components": components, "dims": dims, "samples": n_real, "chains": chains, "seed": seed,
        "tol": tol, "max_iter": max_iter, "reg_covar": reg_covar, "init": init, "heldout": n_held,
        "heldout_source": held_source, "record_chains": record_chains, "record_every": 1,
        "scheduler": scheduler, "process": proc.to_config(),
    }
    if preset is not None:
        config["true"] = {name: np.asarray(a).tolist() for name, a in zip(GMM._fields, true)}
    final = {name: np.asarray(a) for name, a in zip(GMM._fields, final)}
    if real_np is not None:  # the real data, for the scatter plot (presets are redrawn from `true`)
        trajectory["real_data"] = real_np
    return SimulationResult("gmm", config, metrics, final=final, trajectory=trajectory)


def snapshot_samples(result: SimulationResult, generation: int, chain: int = 0, n: int | None = None) -> np.ndarray:
    """Points drawn from a recorded generation's mixture (for scatter plots)."""
    t = result.trajectory
    gmm = GMM(*(jnp.asarray(t[name][generation, chain]) for name in GMM._fields))
    n = result.config["samples"] if n is None else n
    key = jax.random.fold_in(jax.random.fold_in(engine.root_key(result.config["seed"]), 2**31 - 2), generation)
    return np.asarray(sample(key, gmm, n))


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def plot(result: SimulationResult, outdir: Path) -> list[Path]:
    """``gmm_scatter.png`` (samples at the paper's generations next to real data, chain 0),
    ``gmm_l2.png`` (L2 distance, mean and 5-95% band over chains, log axis), ``gmm_std.png``."""
    from .core import plots

    plt = plots.plt

    outdir = Path(outdir)
    written = []
    cfg = result.config
    if result.trajectory and len(result.trajectory["weights"]) and cfg.get("record_chains", 0) > 0:
        gens = [g for g in SNAPSHOT_GENERATIONS if g <= result.generations]
        if result.generations not in gens:
            gens.append(result.generations)
        if cfg.get("true") is not None:
            true = GMM(*(jnp.asarray(cfg["true"][n], jnp.float32) for n in GMM._fields))
            key = jax.random.fold_in(engine.root_key(cfg["seed"]), 2**31 - 3)
            real, real_title = np.asarray(sample(key, true, cfg["samples"])), "real data (a draw)"
        else:
            real, real_title = np.asarray(result.trajectory["real_data"]), "real data"
        panels = [(real_title, real, None)] + [(f"generation {g}", snapshot_samples(result, g), g) for g in gens]
        ncol = 4
        nrow = math.ceil(len(panels) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.1 * nrow), squeeze=False)
        centre = real.mean(axis=0)
        half = np.abs(real - centre).max() * 1.15
        for ax, (title, pts, g) in zip(axes.flat, panels):
            y = pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts))
            ax.scatter(pts[:, 0], y, s=3, alpha=0.5, color="C1" if g is None else "C0")
            if g is not None:
                std = component_std(GMM(*(jnp.asarray(result.trajectory[n][g, 0]) for n in GMM._fields)))
                title += f"\nstd {', '.join(f'{s:.3g}' for s in np.asarray(std))}"
            ax.set_title(title, fontsize=9)
            ax.set_xlim(centre[0] - half, centre[0] + half)
            cy = centre[1] if len(centre) > 1 else 0.0
            ax.set_ylim(cy - half, cy + half)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"GMM refitted on its own samples (chain 0, K={cfg['components']}, N={cfg['samples']})")
        written.append(outdir / "gmm_scatter.png")
        plots.save(fig, written[-1])

    summary = result.summary()
    g = np.arange(result.generations + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    s = summary["l2"]
    sel = g >= 1
    ax.fill_between(g[sel], np.maximum(s["q05"][sel], 1e-12), np.maximum(s["q95"][sel], 1e-12),
                    alpha=0.25, label="5-95% of chains")
    ax.plot(g[sel], np.maximum(s["mean"][sel], 1e-12), label="mean")
    ax.plot(g[sel], np.maximum(s["q50"][sel], 1e-12), "--", lw=1, label="median")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("squared L2 distance to generation 0")
    ax.set_title(f"GMM collapse ({result.chains} chains)")
    ax.legend()
    written.append(outdir / "gmm_l2.png")
    plots.save(fig, written[-1])

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in range(cfg["components"]):
        for ax, name in zip(axes, ("std", "weight")):
            st = summary[f"{name}_{k}"]
            ax.fill_between(g, st["q05"], st["q95"], alpha=0.2, color=f"C{k}")
            ax.plot(g, st["mean"], color=f"C{k}", label=f"component {k} (by weight)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("component std sqrt(tr(cov)/d)")
    axes[1].set_ylabel("component weight")
    for ax in axes:
        ax.set_xlabel("generation")
        ax.legend(fontsize=8)
    written.append(outdir / "gmm_std.png")
    plots.save(fig, written[-1])
    return written


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def add_cli(subparsers) -> None:
    from .cli import add_process_arguments

    p = subparsers.add_parser("gmm", help="Gaussian mixture refitted by EM on its own samples (paper SI)",
                              description=simulate.__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="blob", help=f"real data preset: {' | '.join(PRESETS)}")
    p.add_argument("--data", default=None, help="real data file instead of a preset (.npy, .csv or whitespace text)")
    p.add_argument("--components", type=int, default=2)
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--max-iter", type=int, default=2000)
    p.add_argument("--reg-covar", type=float, default=1e-6)
    p.add_argument("--init", default="kmeans++", help="kmeans++ (fresh fit each generation) | warm")
    p.add_argument("--heldout", type=int, default=1000, help="held-out real points (presets)")
    p.add_argument("--record-chains", type=int, default=4)
    add_process_arguments(p, samples=None, generations=2000, chains=64)
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from .cli import default_out, claimed_out, process_kwargs

    with claimed_out(default_out("gmm", args.out), args.overwrite, "gmm") as out:
        data = load_data(args.data) if args.data else args.preset
        result = simulate(data, components=args.components, tol=args.tol, max_iter=args.max_iter,
                          reg_covar=args.reg_covar, init=args.init, heldout=args.heldout,
                          record_chains=args.record_chains, **process_kwargs(args))
        path = result.save(out, plot=plot)
    s = result.summary()
    g = result.generations
    print(f"gmm: {result.chains} chains x {g} generations -> {path}")
    for t in sorted({0, min(1, g), min(50, g), min(200, g), g}):
        print(f"  generation {t:5d}: L2^2 mean {s['l2']['mean'][t]:.4g} (median {s['l2']['q50'][t]:.4g}), "
              f"std_0 {s['std_0']['mean'][t]:.4g}, held-out loglik {s['real_loglik']['mean'][t]:.4f}")
    return 0


__all__ = ["GMM", "EMFit", "PRESETS", "fit_em", "kmeans_pp", "init_from_labels", "sample", "loglik",
           "l2_squared", "component_std", "n_parameters", "simulate", "load_data", "plot", "add_cli"]
