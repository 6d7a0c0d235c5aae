"""Multivariate Gaussian recursive fitting (the paper's Theorem 3.1), exact at any sample size.

Generation i fits N(μ_{i+1}, Σ_{i+1}) to M_i points drawn from the previous fit (mixed with the
original data D_0 when γ > 0; pooled with all earlier data under the ``accumulate`` workflows).
Two exact samplers of one law:

- ``sampler="stats"`` (default): sufficient statistics, cost independent of M. The sample mean is
  N(μ, Σ/M) and the scatter Wishart(M−1, Σ) by the Bartlett construction; the Cholesky factor is
  carried forward as L' = L·B/√div in the log-scale LDLᵀ form of :mod:`collapse_jax.wishart`, so
  no generation re-factorises a collapsing matrix and 10⁴ generations stay finite in float32.
- ``sampler="points"``: the M points are drawn explicitly (cost ∝ M). It also serves a
  non-Gaussian original distribution D_0 (Student-t, a Gaussian mixture or a data array) and the
  ``accumulate-subsample`` workflow. Points drawn from a Gaussian fit are drawn in whitened
  coordinates z (x = μ + L z), so the fit is L·chol(Gram of z) — exact and collapse-safe too.

Mixing with the original data (γ > 0) draws Binomial(M, γ) of the M points from D_0 and pools the two
groups exactly (parallel-axis formula). β > 0 (drawing from the previous generation's *data
distribution*, itself a mixture of every earlier fit) is refused: its exact state grows with the
number of generations.

Metrics per generation (rows 0..G, row 0 the original): ``w2`` (W₂² to the Gaussian fit of D_0,
closed form), ``mean_sq`` = ‖μ_n − μ_0‖² (a lower bound on W₂²(N_n, D_0) for any D_0), ``logdet``,
``trace``, ``log_trace``, ``log_eig_max``, ``log_eig_min`` and, in 1-D, ``sigma``. The spectral metrics
(``w2`` for d > 1 and the eigenvalues) need a d×d eigendecomposition per chain and generation, which on a
CPU costs more than the simulation itself; ``spectral_every=k`` computes them every k-th generation
(and at the last), NaN elsewhere, and ``spectral_every=0`` leaves them out.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from .samplers import wishart
from .core.engine import chain_keys, run_generations
from .core.errors import InputError, as_float, as_int, choice, require
from .core.process import Process, harmonic_sum
from .core.results import SimulationResult

ESTIMATORS = ("unbiased", "mle")
SAMPLERS = ("stats", "points")
DTYPES = ("float32", "float64")
ORIGINALS = ("gaussian", "student-t", "mixture", "data")
TRAJECTORY_CHAINS = 8  # chains whose (μ, Σ) are recorded every generation (for the ellipse plot)
# Largest explicit-point pool (chains × points × d) the accumulate-subsample workflow may hold.
MAX_POOL_ELEMENTS = 1 << 28
SYMMETRY_TOL = 1e-8


# --------------------------------------------------------------------------------------------
# The original distribution D_0
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Original:
    """The original data distribution D_0.

    - ``gaussian``: N(mean0, cov0).
    - ``student-t``: multivariate Student-t with ``df`` > 2 degrees of freedom, location mean0 and
      *covariance* cov0 (scale matrix cov0·(df−2)/df).
    - ``mixture``: Σ_k w_k N(means_k, covs_k).
    - ``data``: the empirical distribution of the rows of ``data`` (drawn with replacement).

    ``mean`` and ``cov`` are D_0's true first two moments: the metrics measure distances to
    N(mean, cov), D_0's Gaussian fit.
    """

    kind: str
    mean: np.ndarray
    cov: np.ndarray
    df: float | None = None
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covs: np.ndarray | None = None
    data: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def describe(self) -> str:
        if self.kind == "student-t":
            return f"student-t:{self.df:g}"
        if self.kind == "mixture":
            return f"mixture({len(self.weights)} components)"
        if self.kind == "data":
            return f"data({self.data.shape[0]} points)"
        return "gaussian"

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "mean": self.mean.tolist(), "cov": self.cov.tolist()}
        if self.df is not None:
            out["df"] = self.df
        if self.weights is not None:
            out.update(weights=self.weights.tolist(), means=self.means.tolist(), covs=self.covs.tolist())
        if self.data is not None:
            out["data_points"] = int(self.data.shape[0])
        return out

    def sampler(self, dtype):
        """A function ``(key, n) -> (n, d)`` points of D_0, in ``dtype``."""
        d = self.dim
        if self.kind == "gaussian":
            mean = jnp.asarray(self.mean, dtype)
            chol = jnp.asarray(np.linalg.cholesky(self.cov), dtype)
            return lambda key, n: mean + jax.random.normal(key, (n, d), dtype) @ chol.T
        if self.kind == "student-t":
            df = float(self.df)
            mean = jnp.asarray(self.mean, dtype)
            chol = jnp.asarray(np.linalg.cholesky(self.cov * (df - 2.0) / df), dtype)

            def student(key, n):
                kz, kw = jax.random.split(key)
                z = jax.random.normal(kz, (n, d), dtype)
                w = jax.random.chisquare(kw, df, (n,), dtype) / df
                return mean + (z @ chol.T) / jnp.sqrt(w)[:, None]

            return student
        if self.kind == "mixture":
            logits = jnp.asarray(np.log(self.weights), dtype)
            means = jnp.asarray(self.means, dtype)
            chols = jnp.asarray(np.linalg.cholesky(self.covs), dtype)

            def mixture(key, n):
                kc, kz = jax.random.split(key)
                comp = jax.random.categorical(kc, logits, shape=(n,))
                z = jax.random.normal(kz, (n, d), dtype)
                return means[comp] + jnp.einsum("nij,nj->ni", chols[comp], z)

            return mixture
        data = jnp.asarray(self.data, dtype)
        rows = data.shape[0]
        return lambda key, n: data[jax.random.randint(key, (n,), 0, rows)]


def _check_cov(name: str, cov: np.ndarray, d: int) -> np.ndarray:
    require(cov.shape == (d, d), f"{name} must have shape ({d}, {d}) to match the mean, got {cov.shape}")
    require(bool(np.all(np.isfinite(cov))), f"{name} contains NaN or infinite entries")
    scale = max(float(np.max(np.abs(cov))), 1e-300)
    asym = float(np.max(np.abs(cov - cov.T)))
    require(asym <= SYMMETRY_TOL * scale,
            f"{name} is not symmetric (max |C - C^T| = {asym:.3g}, relative {asym / scale:.3g})")
    cov = 0.5 * (cov + cov.T)
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(cov)
        raise InputError(f"{name} is not positive definite (smallest eigenvalue {eig[0]:.3g})") from None
    return cov


def _as_mean_cov(mean0: Any, cov0: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.asarray(mean0, dtype=np.float64)
        cov = np.asarray(cov0, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"mean0 and cov0 must be numeric arrays, got {mean0!r} and {cov0!r}") from None
    if mean.ndim == 0:
        mean = mean.reshape(1)
    require(mean.ndim == 1 and mean.size >= 1, f"mean0 must be a vector (d,), got shape {mean.shape}")
    require(bool(np.all(np.isfinite(mean))), "mean0 contains NaN or infinite entries")
    d = mean.shape[0]
    if cov.ndim == 0:  # a variance: sigma^2 I
        require(bool(np.isfinite(cov)) and float(cov) > 0,
                f"cov0 given as a scalar variance must be finite and > 0, got {float(cov)!r}")
        cov = float(cov) * np.eye(d)
    return mean, _check_cov("cov0", cov, d)


def make_original(original: "str | Original | None", mean0: Any, cov0: Any) -> Original:
    """Resolve D_0 from a name (``'gaussian'``, ``'student-t:5'``, ``'mixture:SEP'``) or an
    :class:`Original`; for ``'data'`` use :func:`data_original`."""
    if isinstance(original, Original):
        require(mean0 is None and cov0 is None, "give mean0/cov0 or an Original object, not both")
        return original
    if original is None:
        original = "gaussian"
    require(isinstance(original, str), f"original must be a name or an Original, got {original!r}")
    kind, _, arg = original.partition(":")
    choice("original distribution", kind, ORIGINALS)
    if kind == "data":
        raise InputError("original 'data' needs an array: use gaussian.data_original(array) "
                         "(CLI: --original data:PATH.npy)")
    require(mean0 is not None and cov0 is not None, "mean0 and cov0 are required")
    mean, cov = _as_mean_cov(mean0, cov0)
    if kind == "gaussian":
        require(not arg, f"original 'gaussian' takes no parameter, got {original!r}")
        return Original("gaussian", mean, cov)
    if kind == "student-t":
        require(bool(arg), "original 'student-t' needs degrees of freedom, e.g. 'student-t:5'")
        df = as_float("student-t degrees of freedom", arg)
        require(df > 2, f"student-t degrees of freedom must be > 2 (finite covariance), got {df}")
        return Original("student-t", mean, cov, df=df)
    # mixture:SEP -> equal mixture of N(mean -+ SEP/2 e_1, cov0)
    sep = as_float("mixture separation", arg if arg else "3")
    shift = np.zeros_like(mean)
    shift[0] = sep / 2
    return mixture_original([0.5, 0.5], [mean - shift, mean + shift], [cov, cov])


def mixture_original(weights: Sequence[float], means: Any, covs: Any) -> Original:
    """D_0 = Σ_k w_k N(means_k, covs_k)."""
    try:
        w = np.asarray(weights, dtype=np.float64)
        mu = np.asarray(means, dtype=np.float64)
        cs = np.asarray(covs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("mixture weights, means and covs must be numeric arrays") from None
    require(w.ndim == 1 and w.size >= 1, f"mixture weights must be a vector, got shape {w.shape}")
    require(bool(np.all(np.isfinite(w))) and bool(np.all(w > 0)), "mixture weights must be finite and > 0")
    require(abs(w.sum() - 1) < 1e-9, f"mixture weights must sum to 1, got {w.sum()}")
    require(mu.ndim == 2 and mu.shape[0] == w.size,
            f"mixture means must have shape ({w.size}, d), got {mu.shape}")
    require(bool(np.all(np.isfinite(mu))), "mixture means contain NaN or infinite entries")
    d = mu.shape[1]
    require(cs.shape == (w.size, d, d), f"mixture covs must have shape ({w.size}, {d}, {d}), got {cs.shape}")
    cs = np.stack([_check_cov(f"mixture cov {k}", c, d) for k, c in enumerate(cs)])
    mean = w @ mu
    dev = mu - mean
    cov = np.einsum("k,kij->ij", w, cs) + np.einsum("k,ki,kj->ij", w, dev, dev)
    return Original("mixture", mean, cov, weights=w, means=mu, covs=cs)


def data_original(data: Any) -> Original:
    """D_0 = the empirical distribution of the rows of ``data`` (n, d); its covariance (ddof 0) must
    be positive definite."""
    try:
        x = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("original data must be a numeric array (n, d)") from None
    if x.ndim == 1:
        x = x[:, None]
    require(x.ndim == 2 and x.shape[0] >= 2, f"original data must have shape (n >= 2, d), got {x.shape}")
    require(bool(np.all(np.isfinite(x))), "original data contain NaN or infinite values")
    mean = x.mean(axis=0)
    cov = (x - mean).T @ (x - mean) / x.shape[0]
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise InputError(f"original data are degenerate: their {x.shape[1]}x{x.shape[1]} covariance is "
                         "singular (fewer than d + 1 points in general position)") from None
    return Original("data", mean, cov, data=x)


# --------------------------------------------------------------------------------------------
# Closed forms (THEORY.md §3.2–3.3), float64 on the host
# --------------------------------------------------------------------------------------------

def divisor(m: np.ndarray, estimator: str) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return m - 1.0 if estimator == "unbiased" else m


def c4(m: np.ndarray) -> np.ndarray:
    """E s/σ for the unbiased sample standard deviation of m Gaussian points."""
    m = np.asarray(m, dtype=np.float64)
    return np.sqrt(2.0 / (m - 1)) * np.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2))


def kappa(m: np.ndarray, d: int, estimator: str = "unbiased") -> np.ndarray:
    """E[ln det Σ_{n+1} − ln det Σ_n] for a fit to m points: Σ_k [ψ((m−k)/2) + ln 2] − d ln div."""
    m = np.asarray(m, dtype=np.float64)
    k = np.arange(1, d + 1)
    psi = special.digamma((m[..., None] - k) / 2).sum(-1)
    return psi + d * math.log(2.0) - d * np.log(divisor(m, estimator))


def logdet_variance_step(m: np.ndarray, d: int) -> np.ndarray:
    """Var of one generation's ln det increment: Σ_k ψ₁((m−k)/2)."""
    m = np.asarray(m, dtype=np.float64)
    k = np.arange(1, d + 1)
    return special.polygamma(1, (m[..., None] - k) / 2).sum(-1)


def eigen_rates(m: float, d: int, estimator: str = "unbiased") -> np.ndarray:
    """Almost-sure rates (1/n) ln λ_k(Σ_n) → ψ((M−k)/2) + ln 2 − ln div, k = 1..d (largest first);
    also exactly E of the k-th Cholesky log-diagonal increment ×2."""
    k = np.arange(1, d + 1)
    return special.digamma((m - k) / 2) + math.log(2.0) - math.log(float(divisor(m, estimator)))


def moment_predictions(sizes: np.ndarray, workflow: str, estimator: str, alpha: float, gamma: float,
                       trace0: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact E‖μ_n − μ_0‖² and E tr Σ_n, n = 0..G, for replace or accumulate with mixing (α, γ), β = 0.

    Only first and second moments enter, so this holds for any D_0 with those moments. Given the
    fit (μ, Σ), the next data come from p = α N(μ, Σ) + γ D_0 with tr Cov p = α tr Σ + γ tr Σ_0 +
    αγ‖μ − μ_0‖²; the sample mean and scatter of m points then give the linear recursions below.
    """
    A, T, P, N = 0.0, float(trace0), 0.0, 0.0
    mean_sq, trace = [A], [T]
    for m in np.asarray(sizes, dtype=np.float64):
        cp = alpha * T + gamma * trace0 + alpha * gamma * A
        if workflow == "replace":
            A = alpha ** 2 * A + cp / m
            T = cp * (m - 1) / float(divisor(m, estimator))
        else:  # accumulate: pool previous scatter (trace P over N points) with the new group
            P = P + (m - 1) * cp + (N * m / (N + m)) * (cp / m + gamma ** 2 * A)
            A = ((N + m * alpha) / (N + m)) ** 2 * A + m * cp / (N + m) ** 2
            N = N + m
            T = P / float(divisor(N, estimator))
        mean_sq.append(A)
        trace.append(T)
    return np.asarray(mean_sq), np.asarray(trace)


def predictions(original: Original, proc: Process, estimator: str) -> dict[str, np.ndarray]:
    sizes = proc.sizes()
    d = original.dim
    out: dict[str, np.ndarray] = {}
    if proc.workflow in ("replace", "accumulate"):
        out["mean_sq"], out["trace"] = moment_predictions(
            sizes, proc.workflow, estimator, proc.mixing.alpha, proc.mixing.gamma, float(np.trace(original.cov)))
    pure = proc.workflow == "replace" and proc.mixing.gamma == 0 and original.kind == "gaussian"
    if pure and len(sizes):
        logdet0 = float(np.linalg.slogdet(original.cov)[1])
        out["logdet"] = logdet0 + np.concatenate([[0.0], np.cumsum(kappa(sizes, d, estimator))])
        if d == 1:
            sigma0 = math.sqrt(float(original.cov[0, 0]))
            factor = c4(sizes) * (1.0 if estimator == "unbiased" else np.sqrt((sizes - 1.0) / sizes))
            out["sigma"] = sigma0 * np.concatenate([[1.0], np.cumprod(factor)])
            out["w2"] = out["mean_sq"] + out["trace"] - 2 * sigma0 * out["sigma"] + sigma0 ** 2
    return out


def w2_first_order(sizes: np.ndarray, variance: float) -> np.ndarray:
    """The paper's first-order E W₂² ≈ (3/2) σ² Σ 1/M_i (an approximation, valid while Σ 1/M_i ≪ 1)."""
    return 1.5 * variance * harmonic_sum(sizes)


def w2_gaussian_reference(m1, c1, m2, c2) -> float:
    """W₂² between N(m1, c1) and N(m2, c2) in float64 with scipy.linalg.sqrtm (a slow reference)."""
    from scipy import linalg

    r2 = linalg.sqrtm(np.asarray(c2, np.float64))
    cross = linalg.sqrtm(r2 @ np.asarray(c1, np.float64) @ r2)
    return float(np.sum((np.asarray(m1) - np.asarray(m2)) ** 2)
                 + np.trace(c1) + np.trace(c2) - 2 * np.real(np.trace(cross)))


# --------------------------------------------------------------------------------------------
# Per-chain kernels
# --------------------------------------------------------------------------------------------

def covariance_of(U: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Σ = U diag(e^{2ℓ}) Uᵀ on the host in float64 (underflows where Σ itself does)."""
    U = np.asarray(U, np.float64)
    L = U * np.exp(np.asarray(ell, np.float64))[..., None, :]
    return L @ np.swapaxes(L, -1, -2)


def _ldl_of(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    L = np.linalg.cholesky(cov)
    diag = np.diagonal(L, axis1=-2, axis2=-1)
    return L / diag[..., None, :], np.log(diag)


def _make_metrics(ref: dict[str, jax.Array], d: int, spectral_every: int, last_row: int):
    """Per-chain metrics of (μ, U, ℓ) against the reference Gaussian (mean0, Σ0)."""

    def cheap(mu, U, ell):
        dm = mu - ref["mean"]
        s = jnp.max(ell)
        K = wishart.scaled_factor(U, ell, s)
        ksq = jnp.sum(K * K)
        out = {
            "mean_sq": jnp.sum(dm * dm),
            "logdet": 2.0 * jnp.sum(ell),
            "trace": jnp.exp(2.0 * s) * ksq,
            "log_trace": 2.0 * s + jnp.log(ksq),
        }
        if d == 1:
            sigma = jnp.exp(ell[0])
            out["sigma"] = sigma
            out["w2"] = out["mean_sq"] + (sigma - ref["sigma"]) ** 2
        return out, s, K

    def spectral(mu, U, ell, s, K, mean_sq, trace):
        # Largest eigenvalue of Σ = e^{2s} K Kᵀ; smallest from the inverse, scaled by its own largest.
        lam = jnp.linalg.eigvalsh(K @ K.T)
        log_max = 2.0 * s + jnp.log(lam[-1])
        smin = jnp.min(ell)
        Uinv = jax.scipy.linalg.solve_triangular(U, jnp.eye(d, dtype=U.dtype), lower=True, unit_diagonal=True)
        K2 = jnp.exp(smin - ell)[:, None] * Uinv
        log_min = 2.0 * smin - jnp.log(jnp.linalg.eigvalsh(K2 @ K2.T)[-1])
        # W2: tr (Σ0^{1/2} Σ Σ0^{1/2})^{1/2} = Σ sqrt eig(Lᵀ Σ0 L), L = e^s K.
        cross = jnp.linalg.eigvalsh(K.T @ ref["cov"] @ K)
        nuc = jnp.exp(s) * jnp.sum(jnp.sqrt(jnp.maximum(cross, 0.0)))
        bures = jnp.maximum(ref["trace"] + trace - 2.0 * nuc, 0.0)
        return {"w2": mean_sq + bures, "log_eig_max": log_max, "log_eig_min": log_min}

    def metrics(mu, U, ell, row):
        out, s, K = cheap(mu, U, ell)
        if d > 1 and spectral_every > 0:
            args = (mu, U, ell, s, K, out["mean_sq"], out["trace"])
            if spectral_every == 1:
                out.update(spectral(*args))
            else:
                nan = jnp.full((), jnp.nan, U.dtype)
                todo = (row % spectral_every == 0) | (row == last_row)
                out.update(jax.lax.cond(todo, lambda a: spectral(*a),
                                        lambda a: {"w2": nan, "log_eig_max": nan, "log_eig_min": nan}, args))
        return out

    return metrics


def _original_count(key, m, gamma: float, dtype):
    """How many of the m points come from D_0: Binomial(m, γ) (0 when γ = 0)."""
    if gamma > 0:
        return jax.random.binomial(key, m, jnp.asarray(gamma, dtype), dtype=dtype)
    return jnp.zeros((), dtype)


def _draw_model_group(key, mu, U, ell, n, s, d, dtype):
    """Sufficient statistics of n points from N(μ, Σ): (mean, scatter factor e^{-s}·F)."""
    log_b, lower, z = wishart.bartlett(key, n - 1.0, d, dtype, extra_normals=d)
    mean = mu + U @ (jnp.exp(ell) * z) / jnp.sqrt(jnp.maximum(n, 1.0))
    B = jnp.diag(jnp.exp(log_b)) + lower
    return mean, wishart.scaled_factor(U, ell, s) @ B


def _make_step_stats(d, dtype, proc: Process, ref, metrics, record_chains):
    gamma = proc.mixing.gamma
    accumulate = proc.workflow == "accumulate"
    fast = not accumulate and gamma == 0

    def one(key, mu, U, ell, x):
        if fast:
            log_b, lower, z = wishart.bartlett(key, x["nu"], d, dtype, extra_normals=d)
            mu = mu + U @ (jnp.exp(ell) * z) * x["inv_sqrt_m"]
            U, ell = wishart.ldl_update(U, ell, log_b, lower, x["log_div"])
            return mu, U, ell
        k_count, k_model, k_orig = jax.random.split(key, 3)
        m = x["m"]
        n_orig = _original_count(k_count, m, gamma, dtype)
        n_model = m - n_orig
        s = jnp.maximum(jnp.max(ell), ref["ell_max"])
        mean_a, F_a = _draw_model_group(k_model, mu, U, ell, n_model, s, d, dtype)
        counts, means, factors = [n_model], [mean_a], [F_a]
        if gamma > 0:
            mean_g, F_g = _draw_model_group(k_orig, ref["mean"], ref["U"], ref["ell"], n_orig, s, d, dtype)
            counts.append(n_orig), means.append(mean_g), factors.append(F_g)
        if accumulate:
            n_prev = x["n_prev"]
            F_p = wishart.scaled_factor(U, ell, s) * jnp.where(n_prev > 0, jnp.exp(0.5 * x["log_div_prev"]), 0.0)
            counts.append(n_prev), means.append(mu), factors.append(F_p)
        _, mean, U2, ell2 = wishart.pool(jnp.stack(counts), jnp.stack(means), jnp.stack(factors), s)
        return mean, U2, ell2 - 0.5 * x["log_div"]

    return _wrap_step(one, metrics, record_chains)


def _x_axes(x):
    """vmap axes of the per-generation inputs: scalars are shared, (C,) arrays are per chain (the
    sweep runs grid points that differ in M or estimator as the chains of one kernel this way)."""
    return {k: (0 if jnp.ndim(v) else None) for k, v in x.items()}


def _wrap_step(one, metrics, record_chains):
    def step(keys_C, state, x):
        mu, U, ell = state
        mu, U, ell = jax.vmap(one, in_axes=(0, 0, 0, 0, _x_axes(x)))(keys_C, mu, U, ell, x)
        out = jax.vmap(metrics, in_axes=(0, 0, 0, None))(mu, U, ell, x["t"] + 1)
        if record_chains:
            out["_mean"] = mu[:record_chains]
            out["_U"] = U[:record_chains]
            out["_ell"] = ell[:record_chains]
        return (mu, U, ell), out

    return step


def _fit_points(x, mask, s, d):
    """Mean and scatter factor e^{-s}·F of the masked rows of x (M×d), by QR of the centred rows."""
    n = jnp.sum(mask)
    mean = jnp.sum(jnp.where(mask[:, None], x, 0.0), axis=0) / n
    centred = jnp.where(mask[:, None], x - mean, 0.0) * jnp.exp(-s)
    return n, mean, wishart.pooled_factor(centred.T)


def _make_step_points(d, dtype, proc: Process, ref, metrics, record_chains, original: Original, m_max: int,
                      pool_len: int):
    gamma = proc.mixing.gamma
    workflow = proc.workflow
    draw_original = original.sampler(dtype)
    gaussian0 = original.kind == "gaussian"
    whitened_ok = workflow == "replace" and gamma == 0
    rows = jnp.arange(m_max)

    def whitened(key, mu, U, ell, x):
        # M points x = μ + L z: the fit is μ + L z̄ and L·chol(Σ (z − z̄)(z − z̄)ᵀ)/√div.
        z = jax.random.normal(key, (m_max, d), dtype)
        mask = rows < x["m"]
        zbar = jnp.sum(jnp.where(mask[:, None], z, 0.0), axis=0) / x["m"]
        zc = jnp.where(mask[:, None], z - zbar, 0.0)
        C = jnp.linalg.cholesky(zc.T @ zc)
        mu = mu + U @ (jnp.exp(ell) * zbar)
        U, ell = wishart.ldl_update(U, ell, jnp.log(jnp.diagonal(C)), jnp.tril(C, -1), x["log_div"])
        return mu, U, ell

    def data_points(key, mu, U, ell, x):
        """The m points of this generation (rows < m valid), in real coordinates."""
        k_count, k_model, k_orig = jax.random.split(key, 3)
        m = x["m"]
        n_orig = _original_count(k_count, m, gamma, dtype)
        n_orig = jnp.where(x["first"] > 0, m, n_orig)  # generation 0 fits real data only
        s = jnp.max(ell)
        z = jax.random.normal(k_model, (m_max, d), dtype)
        model = mu + jnp.exp(s) * (z * jnp.exp(ell - s)) @ U.T
        real = draw_original(k_orig, m_max)
        return jnp.where((rows < n_orig)[:, None], real, model)

    def general(key, mu, U, ell, x):
        pts = data_points(key, mu, U, ell, x)
        mask = rows < x["m"]
        s = jnp.maximum(jnp.max(ell), ref["ell_max"])
        n, mean, F = _fit_points(pts, mask, s, d)
        if workflow == "accumulate":
            n_prev = x["n_prev"]
            F_p = wishart.scaled_factor(U, ell, s) * jnp.where(n_prev > 0, jnp.exp(0.5 * x["log_div_prev"]), 0.0)
            _, mean, U2, ell2 = wishart.pool(jnp.stack([n, n_prev]), jnp.stack([mean, mu]),
                                             jnp.stack([F, F_p]), s)
        else:
            U2, ell2 = wishart.from_factor(F, s)
        return mean, U2, ell2 - 0.5 * x["log_div"]

    if workflow == "accumulate-subsample":
        def one_sub(key, mu, U, ell, pool, x):
            k_data, k_pick = jax.random.split(key)
            pts = data_points(k_data, mu, U, ell, x)
            pool = jax.lax.dynamic_update_slice(pool, pts, (x["n_prev"].astype(jnp.int32), 0))
            n_pool = x["n_prev"] + x["m"]
            # A uniform subset of size m without replacement: the m smallest of i.i.d. uniforms.
            u = jax.random.uniform(k_pick, (pool_len,), dtype)
            u = jnp.where(jnp.arange(pool_len) < n_pool, u, 2.0)
            _, idx = jax.lax.top_k(-u, m_max)
            s = jnp.maximum(jnp.max(ell), ref["ell_max"])
            _, mean, F = _fit_points(pool[idx], rows < x["m"], s, d)
            U2, ell2 = wishart.from_factor(F, s)
            return mean, U2, ell2 - 0.5 * x["log_div"], pool

        def step(keys_C, state, x):
            mu, U, ell, pool = state
            mu, U, ell, pool = jax.vmap(one_sub, in_axes=(0, 0, 0, 0, 0, None))(keys_C, mu, U, ell, pool, x)
            out = jax.vmap(metrics, in_axes=(0, 0, 0, None))(mu, U, ell, x["t"] + 1)
            if record_chains:
                out["_mean"], out["_U"], out["_ell"] = mu[:record_chains], U[:record_chains], ell[:record_chains]
            return (mu, U, ell, pool), out

        return step

    if whitened_ok and gaussian0:
        one = whitened
    elif whitened_ok:
        def one(key, mu, U, ell, x):  # real data at generation 0, collapse-safe whitened fits after
            return jax.lax.cond(x["first"] > 0, lambda a: general(*a), lambda a: whitened(*a),
                                (key, mu, U, ell, x))
    else:
        one = general
    return _wrap_step(one, metrics, record_chains)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------

def simulate(
    mean0: Any = None,
    cov0: Any = None,
    *,
    samples: int | None = 100,
    generations: int = 100,
    chains: int = 1000,
    seed: int = 0,
    estimator: str = "unbiased",
    sampler: str = "stats",
    schedule: "str | Sequence[int]" = "constant",
    workflow: str = "replace",
    alpha: float | None = None,
    beta: float = 0.0,
    gamma: float = 0.0,
    original: "str | Original | None" = "gaussian",
    dtype: str = "float32",
    spectral_every: int = 1,
    progress: bool = False,
) -> SimulationResult:
    """Simulate ``chains`` independent recursive Gaussian fits for ``generations`` generations.

    ``mean0`` (d,) and ``cov0`` (d, d) (or a scalar variance) define D_0 = N(mean0, cov0), or its
    first two moments for ``original='student-t:DF'`` / ``'mixture:SEP'``; pass an :class:`Original`
    (``data_original(array)``, ``mixture_original(...)``) instead of mean0/cov0 for the others.
    ``estimator`` is ``'unbiased'`` (divide the scatter by M−1, the theorem's) or ``'mle'`` (by M).
    Returns a :class:`SimulationResult` whose metrics have shape (generations + 1, chains) and whose
    ``predictions`` hold every exact expectation known for the configuration.
    """
    choice("estimator", estimator, ESTIMATORS)
    choice("sampler", sampler, SAMPLERS)
    choice("dtype", dtype, DTYPES)
    chains = as_int("chains", chains, minimum=1)
    seed = as_int("seed", seed, minimum=0)
    spectral_every = as_int("spectral_every", spectral_every, minimum=0)
    orig = make_original(original, mean0, cov0)
    proc = Process.resolve(samples=samples, generations=generations, schedule=schedule, workflow=workflow,
                           alpha=alpha, beta=beta, gamma=gamma)
    d = orig.dim
    if proc.mixing.beta > 0:
        raise InputError("beta > 0 is not supported by the Gaussian family: the previous generation's data "
                         "distribution is a mixture of every earlier fit, so an exact state would grow with the "
                         "generations; use gamma (original data) or workflow='accumulate'")
    if sampler == "stats" and orig.kind != "gaussian":
        raise InputError(f"original {orig.describe()!r} is not Gaussian: the sufficient-statistic sampler needs "
                         "Gaussian data; use sampler='points'")
    if sampler == "stats" and proc.workflow == "accumulate-subsample":
        raise InputError("workflow 'accumulate-subsample' draws a subset of explicit points from the pool; "
                         "it needs sampler='points' (sufficient statistics cannot subsample)")
    sizes = proc.sizes()
    _check_sizes(sizes, d, estimator, proc.workflow)
    if sampler == "points" and len(sizes):
        m_max = int(sizes.max())
        pool_len = int(sizes.sum()) + m_max if proc.workflow == "accumulate-subsample" else 0
        elements = chains * max(m_max, pool_len) * d
        require(elements <= MAX_POOL_ELEMENTS,
                f"the explicit-points sampler would hold {elements:.3g} numbers per generation "
                f"(chains x points x d); at most {MAX_POOL_ELEMENTS:.3g}: use fewer chains or sampler='stats'")
    else:
        m_max = pool_len = 0

    config = {
        "dim": d, "chains": chains, "seed": seed, "estimator": estimator, "sampler": sampler, "dtype": dtype,
        "spectral_every": spectral_every, "original": orig.to_config(), **proc.to_config(),
        "samples": proc.schedule.samples, "sizes": sizes.tolist() if len(sizes) <= 10_000 else None,
    }
    ctx = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with ctx:
        metrics, final, trajectory = _run(orig, proc, estimator, sampler, chains, seed, np.dtype(dtype),
                                          spectral_every, progress, m_max, pool_len)
    preds = predictions(orig, proc, estimator)
    preds = {k: v for k, v in preds.items() if k in metrics}
    return SimulationResult("gaussian", config, metrics, final=final, predictions=preds, trajectory=trajectory)


def _check_sizes(sizes: np.ndarray, d: int, estimator: str, workflow: str) -> None:
    if not len(sizes):
        return
    need = sizes if workflow != "accumulate" else sizes[:1]
    worst = int(np.argmin(need))
    if estimator == "unbiased" and need[worst] < 2:
        raise InputError(f"the unbiased estimator divides the scatter by M - 1 and needs M >= 2; "
                         f"M_{worst} = {need[worst]}")
    if need[worst] <= d:
        raise InputError(f"M_{worst} = {need[worst]} <= d = {d}: a covariance fitted to M <= d points is singular "
                         f"(rank M - 1 < d); every fit needs M >= d + 1 = {d + 1}")


def _xs(sizes: np.ndarray, estimator: str, workflow: str, dtype) -> dict[str, np.ndarray]:
    m = sizes.astype(np.float64)
    n_prev = np.concatenate([[0.0], np.cumsum(m)[:-1]])
    if workflow == "accumulate":
        pooled = n_prev + m
    else:
        pooled = m
    with np.errstate(divide="ignore"):
        log_div_prev = np.log(np.maximum(divisor(n_prev, estimator), 1.0))
    xs = {
        "t": np.arange(len(m), dtype=np.int32),
        "m": m, "nu": m - 1.0, "inv_sqrt_m": 1.0 / np.sqrt(m),
        "log_div": np.log(divisor(pooled, estimator)),
        "n_prev": n_prev, "log_div_prev": log_div_prev,
        "first": (np.arange(len(m)) == 0).astype(np.float64),
    }
    return {k: (v if k == "t" else v.astype(dtype)) for k, v in xs.items()}


def _run(orig: Original, proc: Process, estimator, sampler, chains, seed, dtype, spectral_every, progress,
         m_max, pool_len):
    d = orig.dim
    G = proc.generations
    sizes = proc.sizes()
    U0, ell0 = _ldl_of(orig.cov)
    ref = {
        "mean": jnp.asarray(orig.mean, dtype), "cov": jnp.asarray(orig.cov, dtype),
        "trace": jnp.asarray(np.trace(orig.cov), dtype), "sigma": jnp.asarray(math.sqrt(orig.cov[0, 0]), dtype),
        "U": jnp.asarray(U0, dtype), "ell": jnp.asarray(ell0, dtype), "ell_max": jnp.asarray(ell0.max(), dtype),
    }
    metrics_fn = _make_metrics(ref, d, spectral_every, G)
    record = min(chains, TRAJECTORY_CHAINS)
    if sampler == "stats":
        step = _make_step_stats(d, dtype, proc, ref, metrics_fn, record)
    else:
        step = _make_step_points(d, dtype, proc, ref, metrics_fn, record, orig, m_max, pool_len)
    mu = jnp.broadcast_to(ref["mean"], (chains, d))
    U = jnp.broadcast_to(ref["U"], (chains, d, d))
    ell = jnp.broadcast_to(ref["ell"], (chains, d))
    state: tuple = (mu, U, ell)
    if proc.workflow == "accumulate-subsample":
        state = state + (jnp.zeros((chains, pool_len, d), dtype),)
    row0 = jax.jit(jax.vmap(metrics_fn, in_axes=(0, 0, 0, None)))(mu, U, ell, 0)
    first_rec = [np.asarray(a[:record])[None] for a in (mu, U, ell)]
    keys = chain_keys(seed, chains)
    xs = _xs(sizes, estimator, proc.workflow, dtype)
    state, out = run_generations(step, state, keys, xs, progress=progress, desc="gaussian")
    metrics = {}
    for name, first in row0.items():
        first = np.asarray(first)[None]
        metrics[name] = np.concatenate([first, out[name]], axis=0) if G else first
    trajectory = {}
    if G:
        trajectory = {
            "mean": np.concatenate([first_rec[0], out["_mean"]]),
            "unit_lower": np.concatenate([first_rec[1], out["_U"]]),
            "log_chol_diag": np.concatenate([first_rec[2], out["_ell"]]),
        }
    final = {"mean": np.asarray(state[0]), "unit_lower": np.asarray(state[1]), "log_chol_diag": np.asarray(state[2])}
    return metrics, final, trajectory


# --------------------------------------------------------------------------------------------
# Schedule comparison and CLI
# --------------------------------------------------------------------------------------------

COMPARE_SCHEDULES = ("constant", "linear", "poly:1.5", "geometric")


def compare_schedules(mean0, cov0, *, samples: int, generations: int, chains: int, seed: int = 0,
                      estimator: str = "unbiased", dtype: str = "float32", progress: bool = False,
                      schedules: Sequence[str] = COMPARE_SCHEDULES) -> dict[str, SimulationResult]:
    """The same configuration under several schedules (sufficient statistics, no spectral metrics).
    A bare ``geometric`` picks the ratio that grows M to at most 10⁶ by the last generation."""
    out = {}
    for spec in schedules:
        if spec == "geometric":
            samples_i = as_int("samples", samples, minimum=1)
            ratio = min(1.1, (1e6 / samples_i) ** (1.0 / max(as_int("generations", generations, minimum=1) - 1, 1)))
            spec = f"geometric:{ratio:.6g}"
        out[spec] = simulate(mean0, cov0, samples=samples, generations=generations, chains=chains, seed=seed,
                             estimator=estimator, schedule=spec, dtype=dtype, spectral_every=0, progress=progress)
    return out


def add_cli(subparsers) -> None:
    from .cli import add_process_arguments

    p = subparsers.add_parser("gaussian", help="recursive fitting of a d-dimensional Gaussian (Theorem 3.1)",
                              description=__doc__.split("\n\n")[0])
    add_process_arguments(p, samples=100, generations=200, chains=1000)
    g = p.add_argument_group("gaussian")
    g.add_argument("--dim", type=int, default=2, help="dimension d (D_0 = N(0, variance * I) unless --cov)")
    g.add_argument("--variance", type=float, default=1.0, help="isotropic variance of D_0")
    g.add_argument("--cov", default=None, help="a .npy file with the d x d covariance of D_0")
    g.add_argument("--estimator", default="unbiased", help="unbiased | mle")
    g.add_argument("--sampler", default="stats", help="stats (sufficient statistics) | points (explicit points)")
    g.add_argument("--original", default="gaussian",
                   help="D_0: gaussian | student-t:DF | mixture:SEP | data:PATH.npy (points sampler for non-Gaussian)")
    g.add_argument("--dtype", default="float32", help="float32 | float64")
    g.add_argument("--spectral-every", default="auto",
                   help="compute W2 (d > 1) and extreme eigenvalues every k generations; 0 = never; "
                        "auto = about 200 rows")
    g.add_argument("--compare-schedules", action="store_true",
                   help="also run constant, linear, poly:1.5 and geometric schedules side by side")
    g.add_argument("--ellipse-generations", default=None,
                   help="comma-separated generations for the d = 2 ellipse picture (default: spread over the run)")
    p.set_defaults(func=_cli_run)


def _cli_run(args: argparse.Namespace) -> int:
    from .cli import default_out, claimed_out, process_kwargs
    from . import plots_gaussian

    kw = process_kwargs(args)
    d = as_int("--dim", args.dim, minimum=1)
    variance = as_float("--variance", args.variance)
    require(variance > 0, f"--variance must be > 0, got {variance}")
    mean0 = np.zeros(d)
    if args.cov is not None:
        try:
            cov0 = np.load(args.cov)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read --cov {args.cov!r}: {err}") from None
    else:
        cov0 = variance * np.eye(d)
    original: Any = args.original
    if isinstance(original, str) and original.startswith("data:"):
        path = original[5:]
        try:
            arr = np.load(path)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read original data {path!r}: {err}") from None
        original, mean0, cov0 = data_original(arr), None, None
    if args.spectral_every == "auto":
        spectral = max(1, int(kw["generations"] or 1) // 200) if isinstance(kw["generations"], int) else 1
    else:
        try:
            spectral = int(args.spectral_every)
        except ValueError:
            raise InputError(f"--spectral-every must be an integer or 'auto', got {args.spectral_every!r}") from None
    ellipse_gens = None
    if args.ellipse_generations:
        try:
            ellipse_gens = [int(v) for v in args.ellipse_generations.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--ellipse-generations must be comma-separated integers, "
                             f"got {args.ellipse_generations!r}") from None
    with claimed_out(default_out("gaussian", args.out), args.overwrite, "gaussian") as out:
        result = simulate(mean0, cov0, estimator=args.estimator, sampler=args.sampler, original=original,
                          dtype=args.dtype, spectral_every=spectral, **kw)
        comparison = None
        if args.compare_schedules:
            require(result.config["original"]["kind"] == "gaussian", "--compare-schedules needs a Gaussian D_0")
            comparison = compare_schedules(mean0, cov0, samples=kw["samples"], generations=kw["generations"],
                                           chains=kw["chains"], seed=kw["seed"], estimator=args.estimator,
                                           dtype=args.dtype, progress=kw["progress"])

        def plot(res, outdir) -> None:
            plots_gaussian.plot_all(res, outdir, comparison=comparison, ellipse_generations=ellipse_gens)

        path = result.save(out, plot=plot)
    _print_summary(result, path)
    return 0


def _print_summary(result: SimulationResult, path: Path) -> None:
    summ = result.summary()
    G = result.generations
    print(f"gaussian d={result.config['dim']} chains={result.chains} generations={G} -> {path}")
    for name in ("w2", "mean_sq", "logdet", "trace", "sigma"):
        if name in summ:
            st = summ[name]
            pred = st.get("prediction")
            tail = f"  (exact {pred[G]:.6g})" if pred is not None else ""
            print(f"  {name:>9} at generation {G}: {st['mean'][G]:.6g} +- {st['se'][G]:.2g}{tail}")


__all__ = ["simulate", "compare_schedules", "Original", "make_original", "mixture_original", "data_original",
           "predictions", "moment_predictions", "kappa", "c4", "eigen_rates", "logdet_variance_step",
           "w2_first_order", "w2_gaussian_reference", "covariance_of", "ESTIMATORS", "SAMPLERS", "add_cli"]
