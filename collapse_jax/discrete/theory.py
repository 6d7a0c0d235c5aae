"""Closed forms of the discrete chain (docs/THEORY.md §2), float64 on the host.

``theory/discrete.py`` checks each of them against simulation with Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sp_stats

from ..core.process import Process

EXACT_BUDGET = 2e9  # multiply-adds the exact transition-matrix predictions may cost (about a second)
BLOCK = 1 << 20  # generations per chunk when a recursion runs over a long process


def gini_simpson_expected(p0: np.ndarray, sizes: np.ndarray, gamma: "float | np.ndarray" = 0.0) -> np.ndarray:
    """E[H_t], t = 0..len(sizes), for replace with beta = 0 and real-data weight gamma (a number or
    one weight per generation).

    F_t = E Σp²: F_{t+1} = (1 - 1/M_t) [(1-γ_t)² F_t + (1 - (1-γ_t)²) F_0] + 1/M_t, H = 1 - F.
    With γ = 0 this is H_0 Π_{i<t} (1 - 1/M_i)."""
    f0 = float(np.sum(np.asarray(p0, dtype=np.float64) ** 2))
    sizes = np.asarray(sizes, dtype=np.float64)
    g2 = (1.0 - np.broadcast_to(np.asarray(gamma, dtype=np.float64), sizes.shape)) ** 2
    f = _affine_recursion(f0, (1 - 1 / sizes) * g2, (1 - 1 / sizes) * (1 - g2) * f0 + 1 / sizes)
    return 1.0 - f


def _affine_recursion(f0: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """f_0 = f0, f_{t+1} = a_t f_t + b_t for t < len(a): in closed form when a and b are constant
    (f_t = a^t f0 + b (1 - a^t)/(1 - a)), else step by step."""
    out = np.empty(a.size + 1)
    out[0] = f0
    if a.size and np.all(a == a[0]) and np.all(b == b[0]) and a[0] != 1.0:
        with np.errstate(under="ignore"):
            power = np.power(a[0], np.arange(1, a.size + 1, dtype=np.float64))
        out[1:] = power * f0 + b[0] * (1.0 - power) / (1.0 - a[0])
        return out
    f = f0
    for i in range(a.size):
        f = a[i] * f + b[i]
        out[i + 1] = f
    return out


def expected_gini_simpson_at(p0: np.ndarray, process: Process, rows: np.ndarray) -> np.ndarray:
    """E[H_t] at the generations ``rows``, block by block over the process (any length)."""
    f0 = float(np.sum(np.asarray(p0, dtype=np.float64) ** 2))
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty(rows.size)
    out[rows == 0] = 1.0 - f0
    f = f0
    for lo in range(0, process.generations, BLOCK):
        hi = min(process.generations, lo + BLOCK)
        table = process.table(lo, hi)
        m = table["m"].astype(np.float64)
        g2 = (1.0 - table["gamma"]) ** 2
        curve = _affine_recursion(f, (1 - 1 / m) * g2, (1 - 1 / m) * (1 - g2) * f0 + 1 / m)
        here = (rows > lo) & (rows <= hi)
        out[here] = 1.0 - curve[rows[here] - lo]
        f = curve[-1]
    return out


def gini_simpson_fixed_point(p0: np.ndarray, samples: int, gamma: float) -> float:
    """lim E Σp² with real data kept (γ > 0, constant M): no absorption."""
    f0 = float(np.sum(np.asarray(p0) ** 2))
    a = 1 - 1 / samples
    g2 = (1 - gamma) ** 2
    return (a * (1 - g2) * f0 + 1 / samples) / (1 - a * g2)


def variance_expected(p0_i: float, samples: int, t: np.ndarray) -> np.ndarray:
    """Var(p_{i,t}) = p_i (1 - p_i) [1 - (1 - 1/M)^t] (replace, constant M)."""
    return p0_i * (1 - p0_i) * (1 - (1 - 1 / samples) ** np.asarray(t, dtype=np.float64))


def extinction_probabilities(p0: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """P(state i extinct after t generations), shape (len(sizes) + 1, K), exactly.

    Each marginal count is itself a two-state Wright–Fisher chain, so P(p_{i,t} = 0) follows from
    the (M+1)-state transition matrices P_{jk} = Binom(k; M_t, j/M_{t-1}) (any schedule). Cost
    O(K · M² · t): meant for small M. Distinct values of p_0 are computed once, and each distinct
    matrix once (a constant M builds one: its binomial pmfs cost far more than the products).
    """
    p0 = np.asarray(p0, dtype=np.float64)
    values, inverse = np.unique(p0, return_inverse=True)
    out = np.zeros((len(sizes) + 1, values.size))
    out[0] = values == 0
    if len(sizes):
        grid = np.arange(sizes[0] + 1)
        dist = sp_stats.binom.pmf(grid[None, :], sizes[0], values[:, None])  # (V, M_0 + 1)
        out[1] = dist[:, 0]
        matrices: dict[tuple[int, int], np.ndarray] = {}
        for t in range(1, len(sizes)):
            pair = (int(sizes[t - 1]), int(sizes[t]))
            if pair not in matrices:
                prev_m, m = pair
                matrices[pair] = sp_stats.binom.pmf(np.arange(m + 1)[None, :], m,
                                                    np.arange(prev_m + 1)[:, None] / prev_m)
            dist = dist @ matrices[pair]
            out[t + 1] = dist[:, 0]
    return out[:, inverse]


PMF_COST = 300  # one binomial pmf evaluation, in multiply-adds (measured: ~150 ns against ~0.5 ns)


def exact_transition_cost(p0: np.ndarray, sizes: np.ndarray) -> float:
    """Work of :func:`extinction_probabilities` in multiply-adds: the products, plus the pmfs of each
    distinct transition matrix."""
    sizes = np.asarray(sizes, dtype=np.int64)
    pairs = np.unique(np.stack([sizes[:-1], sizes[1:]]), axis=1) if sizes.size > 1 else np.zeros((2, 0))
    pmfs = float(np.sum((pairs[0] + 1.0) * (pairs[1] + 1.0))) + (float(sizes[0]) + 1 if sizes.size else 0.0)
    return float(np.unique(p0).size * np.sum((sizes + 1.0) ** 2)) + PMF_COST * pmfs


def predictions(p0: np.ndarray, process: Process, tail: np.ndarray, rows: np.ndarray | None = None,
                budget: float = EXACT_BUDGET) -> dict[str, np.ndarray]:
    """Closed-form expectations of the metrics at the generations ``rows`` (default: all), where the
    process admits one: E H_t for replace with β = 0 (any schedule, any γ_t); exact E surviving
    states and E tail loss from the transition matrices when γ = 0 and M is small enough."""
    rows = np.arange(process.generations + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    mix = process.mixing
    if process.workflow != "replace" or mix.uses("beta"):
        return {}
    out = {"gini_simpson": expected_gini_simpson_at(p0, process, rows)}
    if not mix.uses("gamma") and process.generations <= 10**5:
        sizes = process.sizes()
        if exact_transition_cost(p0, sizes) <= budget:
            ext = extinction_probabilities(p0, sizes)[rows]
            alive0 = p0 > 0
            out["surviving"] = np.sum(1 - ext[:, alive0], axis=1)
            out["tail_lost"] = ext[:, tail] @ p0[tail]
    return out


def absorption_time_diffusion(p0: np.ndarray, samples: int) -> float:
    """Mean generations until one state remains, −2M Σ (1 − p_i) ln(1 − p_i) (Littler 1975;
    a diffusion approximation, right to O(1) generations for large M)."""
    p = np.asarray(p0, dtype=np.float64)
    terms = np.where(p < 1, (1 - p) * np.log1p(-np.minimum(p, 1 - 1e-300)), 0.0)
    return float(-2 * samples * np.sum(terms))


__all__ = ["gini_simpson_expected", "expected_gini_simpson_at", "gini_simpson_fixed_point", "variance_expected",
           "extinction_probabilities", "exact_transition_cost", "predictions", "absorption_time_diffusion"]
