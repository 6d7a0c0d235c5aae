"""The catalogue's building blocks: a check states an identity, computes it in closed form,
simulates it, and reports simulated mean +- standard error, prediction and z-score."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from collapse_jax.core import stats


@dataclass(frozen=True)
class Scale:
    """How hard to try: chain counts grow by ``factor`` under ``--full``."""

    factor: int = 1
    seed: int = 0

    def chains(self, quick: int) -> int:
        return int(quick * self.factor)


@dataclass(frozen=True)
class Row:
    """One compared number. ``exact=False`` marks an approximation (diffusion limits, first-order
    expansions): it is reported with its relative error and judged by ``rel_tol``, not by z."""

    check: str
    label: str
    simulated: float
    se: float
    predicted: float
    exact: bool = True
    rel_tol: float | None = None

    @property
    def z(self) -> float:
        if not (self.se > 0 and math.isfinite(self.se)):
            return 0.0 if self.simulated == self.predicted else math.inf
        return (self.simulated - self.predicted) / self.se

    @property
    def rel_err(self) -> float:
        return abs(self.simulated - self.predicted) / max(abs(self.predicted), 1e-300)

    def passed(self, z_max: float) -> bool:
        if self.exact:
            return abs(self.z) <= z_max
        return self.rel_err <= (self.rel_tol if self.rel_tol is not None else 0.05)


@dataclass(frozen=True)
class Check:
    name: str
    family: str
    identity: str
    exact: bool
    run: Callable[[Scale], list[Row]] = field(repr=False)


CATALOGUE: dict[str, Check] = {}


def register(name: str, family: str, identity: str, exact: bool = True):
    """Decorator: add ``fn(scale) -> list[Row]`` to the catalogue under ``family.name``."""

    def wrap(fn: Callable[[Scale], list[Row]]) -> Callable[[Scale], list[Row]]:
        key = f"{family}.{name}"
        if key in CATALOGUE:
            raise ValueError(f"duplicate theory check {key}")
        CATALOGUE[key] = Check(key, family, identity, exact, fn)
        return fn

    return wrap


def mean_se(samples) -> tuple[float, float]:
    """Mean and standard error of per-chain samples (collapse_jax.core.stats, the one place)."""
    mean, se = stats.mean_and_se(np.asarray(samples, dtype=np.float64).ravel()[None])
    return float(mean[0]), float(se[0])


def compare(check: str, label: str, samples, predicted: float, **kw) -> Row:
    """A row from per-chain samples of a quantity whose expectation is ``predicted``."""
    m, se = mean_se(samples)
    return Row(check, label, m, se, float(predicted), **kw)


def failures(name: str, scale: Scale = Scale(), z_max: float = 4.0) -> list[str]:
    """Run check ``name`` and describe each compared number that fails (empty: all pass)."""
    rows = CATALOGUE[name].run(scale)
    if not rows:
        return [f"{name} compared nothing"]
    return [f"{r.label}: {r.simulated:.6g} +- {r.se:.2g} vs {r.predicted:.6g} (z = {r.z:.2f})"
            for r in rows if not r.passed(z_max)]
