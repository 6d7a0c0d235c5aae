"""The original distribution p_0 of the discrete chain, from a name, a counts file or a vector."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.errors import InputError, as_float, as_int, choice, require

PROBABILITY_TOLERANCE = 1e-6
DEFAULT_STATES = 100


def initial_distribution(init: "str | Sequence[float] | np.ndarray", states: int | None = None) -> np.ndarray:
    """p_0 from ``'uniform'``, ``'zipf:S'`` (p_i ∝ i^-S), ``'counts:PATH'`` (a text file of
    non-negative counts, whitespace or comma separated), or an explicit probability vector.

    ``states`` (K) sizes ``uniform`` and ``zipf`` (default 100); for a counts file or a vector it
    may be given only if it agrees with their length."""
    if states is not None:
        states = as_int("states", states, minimum=2)
    if isinstance(init, str):
        kind, _, arg = init.partition(":")
        choice("initial distribution", kind, ("uniform", "zipf", "counts"))
        if kind == "counts":
            return _agrees(_counts_file(arg), states, f"the counts file {arg!r}")
        k = DEFAULT_STATES if states is None else states
        if kind == "uniform":
            require(not arg, f"'uniform' takes no parameter, got {init!r}")
            return np.full(k, 1.0 / k)
        require(bool(arg), "zipf needs an exponent, e.g. 'zipf:1.1'")
        s = as_float("zipf exponent", arg, minimum=0.0)
        w = np.arange(1, k + 1, dtype=np.float64) ** -s
        return w / w.sum()
    return _agrees(validate_probabilities(init), states, "p0")


def _agrees(p0: np.ndarray, states: int | None, source: str) -> np.ndarray:
    if states is not None and states != p0.size:
        raise InputError(f"states = {states} conflicts with {source}, which has {p0.size} states; "
                         "give one or make them agree")
    return p0


def _counts_file(path: str) -> np.ndarray:
    require(bool(path), "'counts:PATH' needs a file path")
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise InputError(f"cannot read counts file {path!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"counts file {path!r} is not a text file") from None
    try:
        counts = np.array([float(v) for v in text.replace(",", " ").split()])
    except ValueError:
        raise InputError(f"counts file {path!r} must contain numbers only") from None
    require(counts.size >= 2, f"counts file {path!r} needs at least 2 counts, found {counts.size}")
    require(bool(np.all(np.isfinite(counts)) and np.all(counts >= 0)),
            f"counts in {path!r} must be finite and non-negative")
    require(counts.sum() > 0, f"counts in {path!r} are all zero")
    return counts / counts.sum()


def validate_probabilities(p: Any, name: str = "p0") -> np.ndarray:
    """A probability vector: 1-D, K >= 2, finite, non-negative, summing to 1 within
    PROBABILITY_TOLERANCE; returned renormalised in float64."""
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a vector of probabilities, got {p!r}") from None
    require(arr.ndim == 1, f"{name} must be one-dimensional, got shape {arr.shape}")
    require(arr.size >= 2, f"{name} needs at least K = 2 states, got K = {arr.size}")
    bad = ~np.isfinite(arr)
    require(not bad.any(), f"{name} has non-finite entries at {np.flatnonzero(bad)[:5].tolist()}")
    require(bool((arr >= 0).all()),
            f"{name} has negative entries, e.g. {name}[{int(np.argmin(arr))}] = {float(arr.min()):g}")
    total = float(arr.sum())
    require(abs(total - 1.0) <= PROBABILITY_TOLERANCE,
            f"{name} must sum to 1 (within {PROBABILITY_TOLERANCE}), sums to {total:.10g}")
    return arr / total


def tail_states(p0: np.ndarray, tail_quantile: float) -> np.ndarray:
    """The tail: states whose p_0 is at or below its ``tail_quantile`` quantile."""
    return p0 <= np.quantile(p0, tail_quantile)


__all__ = ["initial_distribution", "validate_probabilities", "tail_states", "PROBABILITY_TOLERANCE"]
