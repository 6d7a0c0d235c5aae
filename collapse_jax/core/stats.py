"""Monte Carlo summaries over chains: mean, standard error, quantiles, z-scores and a heavy-tail flag.

The one place these are computed (results, sweeps and the theorem catalogue all call it).

**Heavy tails.** Some expectations are carried by chains of vanishing probability: E σ_n² = σ²
for every n, while almost every chain has collapsed (σ_n² ≈ e^{-n/M}). A run of C chains then shows
a mean far below the exact value with a small standard error, and a z-score that looks like a bug.
The run itself reveals it: the top 1% of chains carry most of the sum. ``tail_share`` is that
share of Σ|x − median| (about 4% for Gaussian samples, 6% for exponential ones); a row of an
*unbounded* metric with ``tail_share > HEAVY_TAIL_SHARE`` is flagged, and its mean, standard error
and z-score should not be read as a check of the expectation (the median and quantiles remain
meaningful). Bounded metrics (probabilities, diversities, indicators) are never flagged: their
means obey the central limit theorem, and a rare event carried by few chains is a proportion with
an honest binomial standard error, not a heavy tail. Families name their unbounded metrics.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.05, 0.5, 0.95)
TAIL_FRACTION = 0.01  # the top 1% of chains
HEAVY_TAIL_SHARE = 0.25  # ... carrying more than a quarter of the total deviation
MIN_CHAINS_FOR_TAIL = 100  # below this, 1% is not even one chain


def mean_and_se(values_RxC: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over chains (last axis) and its standard error (NaN with one chain)."""
    x = np.asarray(values_RxC, dtype=np.float64)
    chains = x.shape[-1]
    mean = x.mean(axis=-1)
    if chains < 2:
        return mean, np.full_like(mean, np.nan)
    with np.errstate(invalid="ignore"):  # inf - inf where a metric is infinite in every chain
        se = x.std(axis=-1, ddof=1) / np.sqrt(chains)
    return mean, se


def tail_share(values_RxC: np.ndarray) -> np.ndarray:
    """Share of Σ|x − median| carried by the top 1% of chains, per row (NaN below 100 chains or
    where the deviations are all zero or not finite)."""
    x = np.asarray(values_RxC, dtype=np.float64)
    chains = x.shape[-1]
    out = np.full(x.shape[:-1], np.nan)
    if chains < MIN_CHAINS_FOR_TAIL:
        return out
    with np.errstate(invalid="ignore"):
        dev = np.abs(x - np.median(x, axis=-1, keepdims=True))
    top = max(1, int(round(TAIL_FRACTION * chains)))
    finite = np.all(np.isfinite(dev), axis=-1)
    dev = np.where(finite[..., None], dev, 0.0)
    total = dev.sum(axis=-1)
    largest = np.partition(dev, chains - top, axis=-1)[..., chains - top:].sum(axis=-1)
    ok = finite & (total > 0)
    out[ok] = largest[ok] / total[ok]
    return out


def summarise(values_RxC: np.ndarray, unbounded: bool = True) -> dict[str, np.ndarray]:
    """Per row: mean, se, q05, q50, q95, tail_share and the heavy-tail flag (only ever set for an
    ``unbounded`` metric)."""
    x = np.asarray(values_RxC, dtype=np.float64)
    mean, se = mean_and_se(x)
    out = {"mean": mean, "se": se}
    with np.errstate(invalid="ignore"):  # KL is +inf once a state is lost: inf - inf inside quantile
        qs = np.quantile(x, QUANTILES, axis=-1)
    for q, row in zip(QUANTILES, qs):
        out[f"q{int(q * 100):02d}"] = row
    share = tail_share(x)
    out["tail_share"] = share
    out["heavy_tail"] = (np.nan_to_num(share, nan=0.0) > HEAVY_TAIL_SHARE) & unbounded
    return out


def z_score(mean: np.ndarray, se: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """(mean − expected)/se, NaN where the standard error is zero or unknown."""
    mean, se, expected = (np.asarray(a, dtype=np.float64) for a in (mean, se, expected))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mean - expected) / se
    return np.where(np.isfinite(se) & (se > 0), z, np.nan)


__all__ = ["QUANTILES", "HEAVY_TAIL_SHARE", "mean_and_se", "tail_share", "summarise", "z_score"]
