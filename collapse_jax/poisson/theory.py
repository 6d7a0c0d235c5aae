"""Closed forms of the Poisson family (docs/THEORY.md §5.3), float64 on the host.

``theory/poisson.py`` checks each against simulation with Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np

from ..core.process import Process

PREDICTION_GENERATIONS = 10**6  # the recursions run generation by generation on the host
BLOCK = 1 << 16


def rate_moments(process: Process, rate0: float) -> tuple[np.ndarray, np.ndarray]:
    """(E λ_t, E λ_t²), t = 0..G, for replace or accumulate with any schedule of M_t and γ_t (β = 0).

    Given λ_t, the points are i.i.d. from α Poisson(λ_t) + γ Poisson(λ_0): E X = αλ_t + γλ_0 and
    E X² = α(λ_t + λ_t²) + γ(λ_0 + λ_0²), so the sample mean X̄ of M points has
    E[X̄² | λ_t] = (1 − 1/M)(E X)² + E X²/M. The refit is λ_{t+1} = c λ_t + (1 − c) X̄ with
    c = 0 (replace) or c = N_{t−1}/N_t, the share of the pool that was there before (accumulate):
    both moments follow linear recursions."""
    l0 = float(rate0)
    m1, m2 = l0, l0 * l0
    first, second = [m1], [m2]
    for lo in range(0, process.generations, BLOCK):
        table = process.table(lo, min(process.generations, lo + BLOCK))
        m = table["m"].astype(np.float64)
        keep = 0.0 * m if process.workflow == "replace" else (table["pool"] - table["m"]) / table["pool"]
        for M, a, g, c in zip(m, table["alpha"], table["gamma"], keep):
            mean_x = a * m1 + g * l0
            sq_mean = a * a * m2 + 2 * a * g * l0 * m1 + g * g * l0 * l0  # E (E[X | λ])²
            sq_x = a * (m1 + m2) + g * (l0 + l0 * l0)  # E X²
            cross = a * m2 + g * l0 * m1  # E[λ_t X̄]
            xbar_sq = (1 - 1 / M) * sq_mean + sq_x / M
            m1, m2 = c * m1 + (1 - c) * mean_x, c * c * m2 + 2 * c * (1 - c) * cross + (1 - c) ** 2 * xbar_sq
            first.append(m1)
            second.append(m2)
    return np.asarray(first), np.asarray(second)


def zero_probability(sizes: np.ndarray, rate0: float, rows: np.ndarray, workflow: str = "replace") -> np.ndarray:
    """P(λ_t = 0) at the generations ``rows`` without real data (γ = 0), exactly, for any sizes M_i.

    Replace: E[e^{−θλ_{i+1}} | λ_i] = exp(−λ_i g_i(θ)) with g_i(θ) = M_i (1 − e^{−θ/M_i}), and
    P(λ_{i+1} = 0 | λ_i) = e^{−M_i λ_i}, so P(λ_t = 0) = exp(−λ_0 · g_0 ∘ … ∘ g_{t−2}(M_{t−1})).
    For constant M this is Suresh et al.'s exp(−Mλ_0 g^{∘t}(∞)), g(x) = 1 − e^{−x}, computed as one
    sequence (cost O(t)); any other schedule costs O(t) per row. Accumulate: the pooled sum is 0
    only if generation 0's is, so P(λ_t = 0) = e^{−M_0 λ_0} for every t >= 1."""
    sizes = np.asarray(sizes, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    at0 = 1.0 if rate0 == 0 else 0.0
    if rows.size == 0 or rows.max() == 0:
        return np.full(rows.size, at0)
    if workflow != "replace":
        return np.where(rows == 0, at0, np.exp(-rate0 * sizes[0]))
    if np.all(sizes[: rows.max()] == sizes[0]):
        x = np.empty(rows.max() + 1)  # x_t = g^{∘t}(∞)/... in units of M: x_1 = 1, x_{t+1} = 1 − e^{−x_t}
        x[0], x[1] = np.inf, 1.0
        for t in range(2, x.size):
            x[t] = -np.expm1(-x[t - 1])
        theta = sizes[0] * x[rows]
    else:
        theta = np.where(rows >= 1, sizes[np.maximum(rows - 1, 0)], np.inf)
        for i in range(rows.max() - 2, -1, -1):
            act = rows - 2 >= i
            theta[act] = -sizes[i] * np.expm1(-theta[act] / sizes[i])
    with np.errstate(invalid="ignore"):
        return np.where(rows == 0, at0, np.exp(-rate0 * theta))


def survival_bounds(samples: int, rate0: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Suresh et al.'s bounds on P(λ_t ≠ 0) for constant M: [1 − e^{−Mλ_0/t}, 1 − e^{−3Mλ_0/t}]."""
    t = np.maximum(np.asarray(t, dtype=np.float64), 1.0)
    return -np.expm1(-samples * rate0 / t), -np.expm1(-3 * samples * rate0 / t)


def predictions(process: Process, rate0: float, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact E λ_t (``rate``) and, without real data, P(λ_t = 0) (``absorbed``) at ``rows``."""
    G = process.generations
    rows = np.arange(G + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    if G > PREDICTION_GENERATIONS or process.mixing.uses("beta") or process.workflow == "accumulate-subsample":
        return {}
    first, _ = rate_moments(process, rate0)
    out = {"rate": first[rows]}
    if not process.mixing.uses("gamma"):
        out["absorbed"] = zero_probability(process.sizes(), rate0, rows, process.workflow)
    return out


__all__ = ["rate_moments", "zero_probability", "survival_bounds", "predictions", "PREDICTION_GENERATIONS"]
