"""Closed forms of recursive kernel density estimation (docs/THEORY.md §5.2), float64 on the host.

``theory/kde.py`` checks them against simulation with Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np

from ..core.process import Process
from .kernel import rule_factor

PREDICTION_GENERATIONS = 10**6


def kernel_terms(rule: str, h: float, n: float, d: int) -> tuple[float, float]:
    """(a, b) with tr Cov(KDE) = a · (scatter trace) + b for a KDE of n points: a fixed or
    scikit-learn-style bandwidth adds d h² (h = f(n) for scott/silverman); a covariance-scaled one
    (scipy-style) adds f(n)² times the unbiased covariance, i.e. scatter · f²/(n − 1)."""
    if rule == "fixed":
        return 1.0 / n, d * h * h
    f2 = float(rule_factor(rule.removesuffix("-cov"), n, d)) ** 2
    if rule.endswith("-cov"):
        return 1.0 / n + f2 / (n - 1.0), 0.0
    return 1.0 / n, d * f2


def moments(process: Process, rule: str, h: float, d: int, trace0: float) -> tuple[np.ndarray, np.ndarray]:
    """(E tr Cov KDE_t, E‖mean KDE_t − mean D_0‖²), t = 0..G, for replace or accumulate, any
    schedule of M_t and γ_t (β = 0), any bandwidth rule, and any D_0 with trace of covariance
    ``trace0`` (only first and second moments enter).

    Given the model (mean μ, tr Cov V), the next points come from α KDE + γ D_0, whose covariance
    has trace c = αV + γV_0 + αγ‖μ − μ_0‖². M of them have a mean ȳ with E‖ȳ − E ȳ‖² = c/M and a
    scatter of trace (M − 1)c on average. Replace refits on them; accumulate merges them into the
    pool of N points: P' = P + Q + (NM/(N + M))‖ȳ − μ‖² and
    μ' − μ_0 = ((N + Mα)(μ − μ_0) + M(ȳ − E ȳ))/(N + M).
    Every step is linear in (E P, E‖μ − μ_0‖²), and V = a(N)·P + b(N) (:func:`kernel_terms`)."""
    a_sq, V, P, N = 0.0, float(trace0), 0.0, 0.0
    variance, mean_sq = [V], [a_sq]
    G = process.generations
    table = process.table(0, G)
    for M, alpha, gamma in zip(table["m"].astype(np.float64), table["alpha"], table["gamma"]):
        c = alpha * V + gamma * trace0 + alpha * gamma * a_sq
        if process.workflow == "replace":
            P, a_sq, N = (M - 1.0) * c, alpha**2 * a_sq + c / M, M
        else:
            P = P + (M - 1.0) * c + (N * M / (N + M)) * (c / M + gamma**2 * a_sq)
            a_sq = ((N + M * alpha) / (N + M)) ** 2 * a_sq + M * c / (N + M) ** 2
            N = N + M
        slope, offset = kernel_terms(rule, h, N, d)
        V = slope * P + offset
        variance.append(V)
        mean_sq.append(a_sq)
    return np.asarray(variance), np.asarray(mean_sq)


def fixed_bandwidth_replace(trace0: float, h: float, samples: int, t: np.ndarray, d: int = 1) -> np.ndarray:
    """The closed form of the fixed-bandwidth recursion V' = (1 − 1/M)V + d h² (replace, constant M,
    no real data): E V_t = V_0 (1 − 1/M)^t + d h² Σ_{j<t} (1 − 1/M)^j = V_0 q^t + d h² M (1 − q^t)."""
    q = 1.0 - 1.0 / samples
    qt = q ** np.asarray(t, np.float64)
    return trace0 * qt + d * h * h * samples * (1.0 - qt)


def predictions(process: Process, rule: str, h: float, d: int, trace0: float,
                rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact E variance and E mean_sq at ``rows`` (replace and accumulate; none for
    accumulate-subsample, whose pool and subsample are correlated in ways no short recursion tracks)."""
    G = process.generations
    rows = np.arange(G + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    if G > PREDICTION_GENERATIONS or process.workflow == "accumulate-subsample" or process.mixing.uses("beta"):
        return {}
    variance, mean_sq = moments(process, rule, h, d, trace0)
    return {"variance": variance[rows], "mean_sq": mean_sq[rows]}


__all__ = ["kernel_terms", "moments", "fixed_bandwidth_replace", "predictions", "PREDICTION_GENERATIONS"]
