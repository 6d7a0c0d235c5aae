"""Gaussian mixtures: densities, sampling, the closed-form L2 distance, k-means++ and EM (pure).

EM follows scikit-learn's ``GaussianMixture(covariance_type='full')`` step for step, so that a fit
from the same initialisation agrees with it:

- M-step: ``n_k = sum_n r_nk + 10 eps``; means ``sum r x / n_k``; covariances from centred data
  plus ``reg_covar * I``; weights ``n_k / sum n_k``;
- convergence: the change of the mean log-likelihood (evaluated before each M-step) below ``tol``.

**The fit as an iteration.** A fit is a :class:`Fit` in progress that :func:`tick` advances by one
k-means assignment-and-update or one EM iteration, whichever phase it is in (k-means++ seeding,
Lloyd's iterations until no assignment changes, the initial mixture from the final assignment, EM,
and a last tick that scores the final mixture: its mean log-likelihood is the E-step's, so every
number of a fit comes out of the same tick). A finished fit's tick returns it unchanged, bit for
bit. :func:`fit_em` ticks until the fit
has finished; the recursion's kernel ticks many chains' fits together, each finishing on its own
(:mod:`collapse_jax.gmm.kernel`), so one chain's answer never depends on which others share its
batch or on how many extra ticks it received.

Masks: a fit sees the points where ``mask_N`` is true (sample sizes that vary by generation use a
buffer of the largest size); masked points have weight zero in k-means and EM. Data are stored
as (d, N) internally: the long sample axis is the minor, vectorised one.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core.errors import InputError, as_float, as_int, require

LOG_2PI = math.log(2.0 * math.pi)
UNROLL_DIMS = 4  # up to this dimension, Cholesky factors are unrolled into elementwise arithmetic
KMEANS, EM, SCORE, DONE = 0, 1, 2, 3  # phases of a fit


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


class Settings(NamedTuple):
    """EM's stopping rule and regularisation (hashable: a kernel's static configuration)."""

    tol: float = 1e-5
    max_iter: int = 2000
    reg_covar: float = 1e-6
    kmeans_iter: int = 100  # Lloyd updates at most


class Fit(NamedTuple):
    """One fit in progress (one mixture; a leading chain axis when batched)."""

    centers: jax.Array  # (K, d) k-means centres
    labels: jax.Array  # (N,) int32 k-means assignment (-1 before the first)
    kmeans_steps: jax.Array  # k-means assignments made
    gmm: GMM  # the EM iterate (from the k-means labels once that phase ends)
    prev: jax.Array  # mean log-likelihood before the last M-step (-inf before the first)
    loglik: jax.Array  # mean log-likelihood of the final mixture (NaN until the SCORE tick)
    iterations: jax.Array  # EM iterations done
    converged: jax.Array
    phase: jax.Array  # KMEANS, EM, SCORE or DONE
    history: jax.Array  # (max_iter,) mean log-likelihood before each M-step, or (0,)


# ---------------------------------------------------------------------------------------------
# Densities


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


def logprob_KN(gmm: GMM, X_dN: jax.Array) -> jax.Array:
    """log w_k + log N(x_n; mu_k, Sigma_k), shape (K, N), for data stored as (d, N)."""
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


def logsumexp_K(lp_KN: jax.Array) -> jax.Array:
    """log sum_k exp over the (short) component axis; entries are finite (weights > 0)."""
    top_N = jnp.max(lp_KN, axis=0)
    return top_N + jnp.log(jnp.sum(jnp.exp(lp_KN - top_N[None, :]), axis=0))


def mean_loglik_dN(gmm: GMM, X_dN: jax.Array, mask_N: jax.Array | None = None) -> jax.Array:
    """Mean log-likelihood per (unmasked) point of data stored as (d, N)."""
    lse_N = logsumexp_K(logprob_KN(gmm, X_dN))
    return jnp.mean(lse_N) if mask_N is None else _mean_ll(lse_N, mask_N)


def component_logpdf(gmm: GMM, X_Nd: jax.Array) -> jax.Array:
    """log w_k + log N(x_n; mu_k, Sigma_k) for data (N, d); shape (K, N)."""
    return logprob_KN(gmm, jnp.asarray(X_Nd).T)


def loglik(gmm: GMM, X_Nd: jax.Array, mask_N: jax.Array | None = None) -> jax.Array:
    """Mean log-likelihood per (unmasked) sample of data (N, d)."""
    lse_N = jax.nn.logsumexp(component_logpdf(gmm, X_Nd), axis=0)
    return jnp.mean(lse_N) if mask_N is None else _mean_ll(lse_N, mask_N)


# ---------------------------------------------------------------------------------------------
# EM and k-means steps


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
    covs_Kdd = covs_Kdd + reg_covar * jnp.eye(d, dtype=X_dN.dtype)
    return GMM(nk_K / jnp.sum(nk_K), means_Kd, covs_Kdd)


def _e_step(gmm: GMM, X_dN: jax.Array, mask_N: jax.Array) -> tuple[jax.Array, jax.Array]:
    lp_KN = logprob_KN(gmm, X_dN)
    top_N = jnp.max(lp_KN, axis=0)
    e_KN = jnp.exp(lp_KN - top_N[None, :])  # one exp per point and component serves both outputs
    total_N = jnp.sum(e_KN, axis=0)
    lse_N = top_N + jnp.log(total_N)
    resp_KN = e_KN * (mask_N / total_N)[None, :]
    return _mean_ll(lse_N, mask_N), resp_KN


def _draw_index(key: jax.Array, weights_N: jax.Array) -> jax.Array:
    """One index with probability proportional to non-negative weights, by inverting the cumulative
    sum with a single uniform (a categorical draw would spend one random number per candidate)."""
    cum = jnp.cumsum(weights_N)
    target = jax.random.uniform(key, (), cum.dtype) * cum[-1]
    return jnp.minimum(jnp.sum(cum <= target), weights_N.shape[0] - 1)


def _sq_dist_KN(X_dN: jax.Array, centers_Kd: jax.Array) -> jax.Array:
    return jnp.sum((X_dN[None, :, :] - centers_Kd[:, :, None]) ** 2, axis=1)


def _kmeans_seed(key: jax.Array, X_dN: jax.Array, components: int, mask_N: jax.Array) -> jax.Array:
    """k-means++ seeding: the first centre uniformly, each next one with probability ~ D(x)^2."""
    keys = jax.random.split(key, components)
    weight_N = mask_N.astype(X_dN.dtype)
    centers = [X_dN[:, _draw_index(keys[0], weight_N)]]
    for k in range(1, components):
        d2_N = jnp.min(_sq_dist_KN(X_dN, jnp.stack(centers)), axis=0)
        centers.append(X_dN[:, _draw_index(keys[k], d2_N * weight_N)])
    return jnp.stack(centers)


def _onehot_KN(labels_N: jax.Array, components: int, mask_N: jax.Array, dtype) -> jax.Array:
    return jax.nn.one_hot(labels_N, components, dtype=dtype, axis=0) * mask_N[None, :]


# ---------------------------------------------------------------------------------------------
# The fit as an iteration


def _new_fit(centers_Kd, gmm: GMM, phase: int, N: int, settings: Settings, history: bool) -> Fit:
    dtype = gmm.means.dtype
    return Fit(centers=centers_Kd, labels=jnp.full((N,), -1, jnp.int32), kmeans_steps=jnp.zeros((), jnp.int32),
               gmm=gmm, prev=jnp.full((), -jnp.inf, dtype), loglik=jnp.full((), jnp.nan, dtype),
               iterations=jnp.zeros((), jnp.int32),
               converged=jnp.zeros((), bool), phase=jnp.full((), phase, jnp.int32),
               history=jnp.full((settings.max_iter if history else 0,), jnp.nan, dtype))


def begin_kmeans(key: jax.Array, X_dN: jax.Array, mask_N: jax.Array, components: int, settings: Settings,
                 history: bool = False) -> Fit:
    """A fit that starts with k-means++ seeding (scikit-learn's default initialisation)."""
    d = X_dN.shape[0]
    dtype = X_dN.dtype
    placeholder = GMM(jnp.full((components,), 1.0 / components, dtype), jnp.zeros((components, d), dtype),
                      jnp.broadcast_to(jnp.eye(d, dtype=dtype), (components, d, d)))
    return _new_fit(_kmeans_seed(key, X_dN, components, mask_N), placeholder, KMEANS, X_dN.shape[1], settings,
                    history)


def begin_warm(init: GMM, N: int, settings: Settings, history: bool = False) -> Fit:
    """A fit whose EM starts from the mixture ``init`` (scikit-learn's ``*_init`` arguments)."""
    return _new_fit(jnp.zeros_like(init.means), init, EM, N, settings, history)


def tick(fit: Fit, X_dN: jax.Array, mask_N: jax.Array, settings: Settings, kmeans: bool = True) -> Fit:
    """One k-means assignment and centre update, one EM iteration, or the final score; a DONE fit
    is returned unchanged. ``kmeans=False`` (static) leaves out the k-means arithmetic for fits that start
    from a mixture.

    k-means: assign every point to its nearest centre; if no assignment changed (or the update
    budget is spent) the initial mixture is the M-step of the hard assignment, else the centres
    move to their points' means (the M-step's means; an empty cluster's centre stays). EM: the
    E-step's mean log-likelihood and responsibilities, then the M-step; converged when the mean
    log-likelihood changed by less than ``tol`` (or after ``max_iter`` iterations). SCORE: the
    E-step's mean log-likelihood of the final mixture."""
    K = fit.gmm.weights.shape[0]
    is_em = fit.phase == EM
    ll, resp_KN = _e_step(fit.gmm, X_dN, mask_N)
    if kmeans:
        is_km = fit.phase == KMEANS
        labels_N = jnp.argmin(_sq_dist_KN(X_dN, fit.centers), axis=0).astype(jnp.int32)
        steps = fit.kmeans_steps + 1
        more = jnp.any((labels_N != fit.labels) & mask_N) & (steps <= settings.kmeans_iter)
        km_done = is_km & ~more
        onehot_KN = _onehot_KN(labels_N, K, mask_N, X_dN.dtype)
        # One M-step serves all three cases: EM (responsibilities), the initial mixture from the
        # final assignment, and Lloyd's centre update (its means; the covariances are unused).
        new = _m_step(X_dN, jnp.where(is_km, onehot_KN, resp_KN), settings.reg_covar)
        moved = jnp.where((jnp.sum(onehot_KN, axis=1) > 0)[:, None], new.means, fit.centers)
        centers = jnp.where(is_km & more, moved, fit.centers)
        labels_N = jnp.where(is_km, labels_N, fit.labels)
        steps = jnp.where(is_km, steps, fit.kmeans_steps)
    else:
        km_done = jnp.zeros((), bool)
        new = _m_step(X_dN, resp_KN, settings.reg_covar)
        centers, labels_N, steps = fit.centers, fit.labels, fit.kmeans_steps
    converged = jnp.abs(ll - fit.prev) < settings.tol
    iterations = fit.iterations + 1
    stop = is_em & (converged | (iterations >= settings.max_iter))
    is_score = fit.phase == SCORE
    history = fit.history
    if history.shape[0]:
        history = jnp.where(is_em, history.at[fit.iterations].set(ll, mode="drop"), history)
    return Fit(
        centers=centers,
        labels=labels_N,
        kmeans_steps=steps,
        gmm=jax.tree.map(lambda a, b: jnp.where(km_done | is_em, a, b), new, fit.gmm),
        prev=jnp.where(is_em, ll, fit.prev),
        loglik=jnp.where(is_score, ll, fit.loglik),
        iterations=jnp.where(is_em, iterations, fit.iterations),
        converged=jnp.where(is_em, converged, fit.converged),
        phase=jnp.where(km_done, EM, jnp.where(stop, SCORE, jnp.where(is_score, DONE, fit.phase))).astype(jnp.int32),
        history=history,
    )


def finished(fit: Fit) -> jax.Array:
    return fit.phase == DONE


def run_fit(fit: Fit, X_dN: jax.Array, mask_N: jax.Array, settings: Settings, kmeans: bool = True,
            until: int = DONE) -> Fit:
    """Ticks until the fit reaches phase ``until`` (DONE: the whole fit; EM: k-means only)."""
    return jax.lax.while_loop(lambda f: f.phase < until, lambda f: tick(f, X_dN, mask_N, settings, kmeans), fit)


def result(fit: Fit) -> EMFit:
    """The finished fit, with the mean log-likelihood of its final parameters."""
    g = fit.gmm
    return EMFit(g.weights, g.means, g.covs, fit.loglik, fit.iterations, fit.converged,
                 fit.history if fit.history.shape[-1] else None)


# ---------------------------------------------------------------------------------------------
# Public fitting functions


def _mask(X_Nd: jax.Array, mask_N: Any) -> jax.Array:
    return jnp.ones(X_Nd.shape[:1], bool) if mask_N is None else jnp.asarray(mask_N, bool)


def kmeans_pp(key: jax.Array, X_Nd: jax.Array, components: int, mask_N: jax.Array | None = None,
              iterations: int = 100) -> jax.Array:
    """k-means++ seeding followed by Lloyd iterations (until assignments stop changing, at most
    ``iterations`` updates) on data (N, d); returns the hard assignment of every point, (N,) int32."""
    X_Nd = jnp.asarray(X_Nd)
    mask_N = _mask(X_Nd, mask_N)
    settings = Settings(kmeans_iter=as_int("iterations", iterations, minimum=0))
    fit = begin_kmeans(key, X_Nd.T, mask_N, components, settings)
    return run_fit(fit, X_Nd.T, mask_N, settings, until=EM).labels


def init_from_labels(X_Nd, labels_N, components: int, reg_covar: float, mask_N=None) -> GMM:
    """Parameters from hard assignments of data (N, d) (sklearn's initialisation after k-means)."""
    X_Nd = jnp.asarray(X_Nd)
    mask_N = _mask(X_Nd, mask_N)
    return _m_step(X_Nd.T, _onehot_KN(jnp.asarray(labels_N), components, mask_N, X_Nd.dtype), reg_covar)


def n_parameters(components: int, dims: int) -> int:
    """Free parameters of a full-covariance mixture: weights, means, covariances."""
    return (components - 1) + components * dims + components * dims * (dims + 1) // 2


def check_settings(components: Any, tol: Any, max_iter: Any, reg_covar: Any, kmeans_iter: Any = 100
                   ) -> tuple[int, Settings]:
    components = as_int("components", components, minimum=1)
    tol = as_float("tol", tol, minimum=0.0)
    max_iter = as_int("max_iter", max_iter, minimum=1)
    reg_covar = as_float("reg_covar", reg_covar)
    require(reg_covar > 0, f"reg_covar must be > 0 (it keeps covariances positive definite), got {reg_covar}")
    return components, Settings(tol, max_iter, reg_covar, as_int("kmeans_iter", kmeans_iter, minimum=0))


def check_points(n: int, components: int, dims: int, what: str = "samples") -> None:
    """Refuse a fit whose data cannot determine the mixture."""
    need = max(n_parameters(components, dims), components)
    require(n >= need, f"{n} {what} cannot determine a {components}-component mixture in {dims} dimensions "
                       f"({n_parameters(components, dims)} free parameters); use at least {need} samples or "
                       "fewer components")


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
    if X.ndim != 2:
        raise InputError(f"data must be a 2-D array (samples, dims), got shape {tuple(X.shape)}")
    is_key = not isinstance(key_or_init, (GMM, tuple, list))
    if not is_key:
        init = GMM(*(jnp.asarray(a, X.dtype) for a in key_or_init))
        components = init.weights.shape[-1] if components is None else components
        require(init.means.shape == (components, X.shape[-1]) and init.covs.shape[-2:] == (X.shape[-1],) * 2,
                f"initial mixture shapes {init.means.shape}, {init.covs.shape} do not match "
                f"{components} components in {X.shape[-1]} dimensions")
    require(components is not None, "components is required when initialising from a key")
    components, settings = check_settings(components, tol, max_iter, reg_covar, kmeans_iter)
    check_points(X.shape[0], components, X.shape[1])
    if not isinstance(X, jax.core.Tracer):
        require(bool(jnp.all(jnp.isfinite(X))), "data contain NaN or infinite values")
    mask_N = _mask(X, mask)
    X_dN = X.T
    if is_key:
        fit = begin_kmeans(key_or_init, X_dN, mask_N, components, settings, history)
    else:
        fit = begin_warm(init, X_dN.shape[1], settings, history)
    return result(run_fit(fit, X_dN, mask_N, settings, kmeans=is_key))


# ---------------------------------------------------------------------------------------------
# Sampling, L2 distance, spread


def sample_dN(key: jax.Array, gmm: GMM, n: int) -> jax.Array:
    """n points stored as (d, n): a component per point, then mean + Cholesky factor @ z."""
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
    return sample_dN(key, GMM(*(jnp.asarray(a) for a in gmm)), n).T


def _overlap(a: GMM, b: GMM) -> jax.Array:
    """sum_ij a_i b_j N(mu_i - nu_j; 0, Sigma_i + Lambda_j) = integral of f(x) g(x) dx."""

    def pair(m_a, c_a, m_b, c_b):
        return _gauss_logpdf(m_a - m_b, c_a + c_b)

    inner = jax.vmap(pair, in_axes=(None, None, 0, 0))
    logpdf_KaKb = jax.vmap(inner, in_axes=(0, 0, None, None))(a.means, a.covs, b.means, b.covs)
    return jnp.sum(a.weights[:, None] * b.weights[None, :] * jnp.exp(logpdf_KaKb))


def l2_squared(a: "GMM | tuple", b: "GMM | tuple") -> jax.Array:
    """The squared L2 distance between two mixture densities, integral of (f - g)^2, in closed form
    (docs/THEORY.md §4.1). Clipped at 0: the exact value is non-negative, and f == g can round to
    -1e-8."""
    a, b = GMM(*a), GMM(*b)
    return jnp.maximum(_overlap(a, a) + _overlap(b, b) - 2.0 * _overlap(a, b), 0.0)


def component_std(gmm: GMM) -> jax.Array:
    """Per-component standard deviation: sqrt(trace(Sigma_k) / d), shape (K,)."""
    d = gmm.covs.shape[-1]
    return jnp.sqrt(jnp.trace(gmm.covs, axis1=-2, axis2=-1) / d)


__all__ = ["GMM", "EMFit", "Settings", "Fit", "fit_em", "kmeans_pp", "init_from_labels", "sample", "sample_dN",
           "loglik", "component_logpdf", "l2_squared", "component_std", "n_parameters", "begin_kmeans",
           "begin_warm", "tick", "finished", "run_fit", "result", "check_settings", "check_points",
           "logprob_KN", "logsumexp_K", "mean_loglik_dN", "KMEANS", "EM", "SCORE", "DONE"]
