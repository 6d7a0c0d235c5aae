"""Closed forms of recursive Gaussian fitting (docs/THEORY.md §3), float64 on the host.

``theory/gaussian.py`` checks each against simulation with Monte Carlo standard errors.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from ..core.process import Process, harmonic_sum
from .original import Original

PREDICTION_GENERATIONS = 2 * 10**6  # the per-generation recursions run in Python: longer runs get none
MEDIAN_SIZES = 64  # distinct M_i whose median variance is integrated for a prediction (up to ~0.1 s each)


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


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(40)


def _gauss_legendre(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of 40-point Gauss–Legendre on each panel between consecutive ``edges`` (last axis)."""
    a, b = edges[..., :-1, None], edges[..., 1:, None]
    nodes = 0.5 * (a + b) + 0.5 * (b - a) * _GL_NODES
    weights = 0.5 * (b - a) * _GL_WEIGHTS
    return nodes.reshape(*edges.shape[:-1], -1), weights.reshape(*edges.shape[:-1], -1)


def _log_phi(x):
    return -0.5 * x * x - 0.5 * math.log(2 * math.pi)


@functools.lru_cache(maxsize=4096)
def _median_second_moment(m: int) -> float:
    # Panels graded geometrically towards the peak: the median's density has width ~1/√m about 0,
    # and given the k-th order statistic x the next one lies within ~1/m above x.
    steps = 2.0 ** np.arange(-3, 40)
    half = np.concatenate([[0.0], steps[steps / math.sqrt(m) < 12.0] / math.sqrt(m), [12.0]])
    k = m // 2
    if m % 2:  # the (k+1)-th of 2k+1: density (2k+1)!/(k!)² Φ^k (1−Φ)^k φ, symmetric about 0
        x, w = _gauss_legendre(half)
        logc = special.gammaln(m + 1) - 2 * special.gammaln(k + 1)
        dens = np.exp(logc + k * (special.log_ndtr(x) + special.log_ndtr(-x)) + _log_phi(x))
        return float(2.0 * np.sum(w * x * x * dens))
    # m = 2k: ((X + Y)/2)² under the joint density of the k-th and (k+1)-th order statistics,
    # m!/((k−1)!)² Φ(x)^{k−1} (1−Φ(y))^{k−1} φ(x) φ(y) on x < y; the inner integral is taken over
    # ((1−Φ(y))/(1−Φ(x)))^{k−1} so that nothing overflows.
    x, w = _gauss_legendre(np.concatenate([-half[::-1], half[1:]]))
    offsets = np.concatenate([[0.0], steps[steps / m < 24.0] / m, [24.0]])
    y, v = _gauss_legendre(x[:, None] + offsets[None, :])
    log_sx = special.log_ndtr(-x)
    inner = np.sum(v * (x[:, None] + y) ** 2
                   * np.exp((k - 1) * (special.log_ndtr(-y) - log_sx[:, None]) + _log_phi(y)), axis=1)
    logc = special.gammaln(m + 1) - 2 * special.gammaln(k)
    outer = np.exp(logc + (k - 1) * (special.log_ndtr(x) + log_sx) + _log_phi(x))
    return float(0.25 * np.sum(w * outer * inner))


def median_second_moment(m: "int | np.ndarray") -> "float | np.ndarray":
    """v_M = E[med(Z_1, ..., Z_M)²] for i.i.d. N(0, 1), by quadrature over the order-statistic density
    (for even M the median is the mean of the two middle order statistics): v_1 = 1, v_2 = 1/2,
    v_M ≈ π/(2M) for large M. Exact up to quadrature error (~1e-12)."""
    arr = np.asarray(m)
    out = np.vectorize(lambda v: _median_second_moment(int(v)), otypes=[np.float64])(arr)
    return float(out) if np.ndim(m) == 0 else out


def median_mean_sq(sizes: np.ndarray, estimator: str, trace0: float) -> np.ndarray:
    """Exact E‖μ_n − μ_0‖², n = 0..G, when μ_{n+1} is the coordinate-wise median of M_n points from
    N(μ_n, Σ_n) (replace, γ = 0, Gaussian D_0, any d, singular fits included).

    Coordinate j of each point is μ_{n,j} + √Σ_{n,jj}·N(0, 1), so the step μ_{n+1} − μ_n has
    conditional mean 0 (symmetry) and conditional second moment v_{M_n} tr Σ_n; the steps are
    martingale differences, and E tr Σ_{n+1} = E tr Σ_n (M_n − 1)/div(M_n) (the scatter is about the
    sample mean, whatever the location estimate). Hence E‖μ_n − μ_0‖² = Σ_{i<n} v_{M_i} E tr Σ_i; with
    the unbiased estimator and constant M, n v_M tr Σ_0."""
    sizes = np.asarray(sizes, dtype=np.float64)
    uniq, inv = np.unique(sizes, return_inverse=True)
    v = median_second_moment(uniq.astype(np.int64))[inv]
    trace = trace0 * np.concatenate([[1.0], np.cumprod((sizes - 1.0) / divisor(sizes, estimator))])
    return np.concatenate([[0.0], np.cumsum(v * trace[:-1])])


def moment_predictions(sizes: np.ndarray, workflow: str, estimator: str, alpha: "float | np.ndarray",
                       gamma: "float | np.ndarray", trace0: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact E‖μ_n − μ_0‖² and E tr Σ_n, n = 0..G, for replace or accumulate with mixing weights
    α_i, γ_i (numbers, or one per generation), β = 0.

    Only first and second moments enter, so this holds for any D_0 with those moments. Given the
    fit (μ, Σ), the next data come from p = α N(μ, Σ) + γ D_0 with tr Cov p = α tr Σ + γ tr Σ_0 +
    αγ‖μ − μ_0‖²; the sample mean and scatter of m points then give the linear recursions below.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), sizes.shape)
    gammas = np.broadcast_to(np.asarray(gamma, dtype=np.float64), sizes.shape)
    A, T, P, N = 0.0, float(trace0), 0.0, 0.0
    mean_sq, trace = [A], [T]
    for m, a, g in zip(sizes, alphas, gammas):
        cp = a * T + g * trace0 + a * g * A
        if workflow == "replace":
            A = a ** 2 * A + cp / m
            T = cp * (m - 1) / float(divisor(m, estimator))
        else:  # accumulate: pool previous scatter (trace P over N points) with the new group
            P = P + (m - 1) * cp + (N * m / (N + m)) * (cp / m + g ** 2 * A)
            A = ((N + m * a) / (N + m)) ** 2 * A + m * cp / (N + m) ** 2
            N = N + m
            T = P / float(divisor(N, estimator))
        mean_sq.append(A)
        trace.append(T)
    return np.asarray(mean_sq), np.asarray(trace)


def predictions(original: Original, proc: Process, estimator: str, rows: np.ndarray | None = None,
                location: str = "mean") -> dict[str, np.ndarray]:
    """Every exact expectation known for the configuration, at the generations ``rows``. With the
    median location only the pure replace run (γ = 0) keeps its forms: the trace and log-det laws are
    unchanged, the mean's is :func:`median_mean_sq` (Gaussian D_0)."""
    G = proc.generations
    rows = np.arange(G + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    if G > PREDICTION_GENERATIONS or proc.mixing.uses("beta"):
        return {}
    sizes = proc.sizes()
    weights = proc.mixing.at(0, G, G)
    d = original.dim
    out: dict[str, np.ndarray] = {}
    if proc.workflow in ("replace", "accumulate"):
        out["mean_sq"], out["trace"] = moment_predictions(sizes, proc.workflow, estimator, weights["alpha"],
                                                          weights["gamma"], float(np.trace(original.cov)))
    pure = proc.workflow == "replace" and not proc.mixing.uses("gamma") and original.kind == "gaussian"
    if location == "median":
        if proc.workflow != "replace" or proc.mixing.uses("gamma"):
            return {}  # the mixed data's median has no closed form, and the trace recursion needs it
        out.pop("mean_sq")
        if pure and len(np.unique(sizes)) <= MEDIAN_SIZES:
            out["mean_sq"] = median_mean_sq(sizes, estimator, float(np.trace(original.cov)))
    if pure and len(sizes) and sizes.min() > d:  # singular fits: ln det = −inf
        logdet0 = float(np.linalg.slogdet(original.cov)[1])
        out["logdet"] = logdet0 + np.concatenate([[0.0], np.cumsum(kappa(sizes, d, estimator))])
        if d == 1:
            sigma0 = math.sqrt(float(original.cov[0, 0]))
            factor = c4(sizes) * (1.0 if estimator == "unbiased" else np.sqrt((sizes - 1.0) / sizes))
            out["sigma"] = sigma0 * np.concatenate([[1.0], np.cumprod(factor)])
            if "mean_sq" in out:
                out["w2"] = out["mean_sq"] + out["trace"] - 2 * sigma0 * out["sigma"] + sigma0 ** 2
    return {k: v[rows] for k, v in out.items()}


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


__all__ = ["divisor", "c4", "kappa", "logdet_variance_step", "eigen_rates", "median_second_moment", "median_mean_sq",
           "moment_predictions", "predictions", "w2_first_order", "w2_gaussian_reference", "PREDICTION_GENERATIONS"]
