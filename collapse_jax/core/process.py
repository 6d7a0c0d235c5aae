"""The one process every model family simulates (THEORY.md §1, DESIGN.md).

Generation i has a dataset D_i of M_i samples; a model is fitted to D_i, and D_{i+1} is drawn from

    p_{i+1} = alpha * (new model) + beta * p_i + gamma * p_0,      alpha + beta + gamma = 1,

where p_i is the distribution D_i was drawn from and p_0 the original (real) data. The *workflow*
says what the model is fitted on:

- ``replace``: only the newest dataset (the paper's main setting);
- ``accumulate``: every dataset so far, pooled (Gerstgrasser et al. 2024);
- ``accumulate-subsample``: a subset of M_i points drawn without replacement from that pool
  (Kazdan et al. 2024).

A *schedule* gives the sample size M_i of every generation. The paper's theorem bounds the error
only when sum 1/M_i converges, so growing schedules are first-class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import InputError, as_float, as_int, choice

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample")
SCHEDULES = ("constant", "linear", "poly", "geometric", "list")
MIX_TOLERANCE = 1e-9

# Counts are int32 on the device (JAX's default without x64), so sample sizes stay below 2^31.
MAX_SAMPLES = 2**31 - 1


@dataclass(frozen=True)
class Mixing:
    """Weights of the next data distribution: new model, previous data, original data."""

    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0

    @classmethod
    def resolve(cls, alpha: float | None = None, beta: float = 0.0, gamma: float = 0.0) -> "Mixing":
        """Validate the weights; ``alpha=None`` means ``1 - beta - gamma``."""
        beta = as_float("beta", beta)
        gamma = as_float("gamma", gamma)
        alpha = 1.0 - beta - gamma if alpha is None else as_float("alpha", alpha)
        for name, w in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            if w < 0 or w > 1:
                raise InputError(f"mixing weight {name} must lie in [0, 1], got {w}")
        total = alpha + beta + gamma
        if abs(total - 1.0) > MIX_TOLERANCE:
            raise InputError(
                f"mixing weights must sum to 1 (within {MIX_TOLERANCE}): "
                f"alpha + beta + gamma = {alpha} + {beta} + {gamma} = {total}"
            )
        return cls(alpha, beta, gamma)


@dataclass(frozen=True)
class Schedule:
    """A sample-size schedule: ``kind`` with base size ``samples`` and parameter ``rate``.

    M_i for generation i = 0, 1, ... (the data that fits model i + 1):

    - constant:         M
    - linear:           M * (i + 1)
    - poly (a):         round(M * (i + 1) ** a)
    - geometric (r):    round(M * r ** i)
    - list:             the explicit values, one per generation
    """

    kind: str = "constant"
    samples: int = 100
    rate: float | None = None
    values: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, spec: "str | Sequence[int] | Schedule", samples: int | None) -> "Schedule":
        """From ``'constant'``, ``'linear'``, ``'poly:1.5'``, ``'geometric:1.1'``, ``'list:10,20,40'``
        or an explicit sequence of sizes."""
        if isinstance(spec, Schedule):
            return spec
        if not isinstance(spec, str):
            values = tuple(as_int("schedule value", v, minimum=1) for v in spec)
            if not values:
                raise InputError("an explicit schedule needs at least one sample size")
            return cls("list", values[0], None, values)
        kind, _, arg = spec.partition(":")
        choice("schedule", kind, SCHEDULES)
        if kind == "list":
            try:
                values = tuple(int(v) for v in arg.split(",") if v.strip())
            except ValueError:
                raise InputError(f"schedule 'list:...' needs comma-separated integers, got {arg!r}") from None
            return cls.parse(values, samples)
        if samples is None:
            raise InputError(f"schedule {kind!r} needs a base sample size (samples=...)")
        samples = as_int("samples", samples, minimum=1)
        if kind in ("constant", "linear"):
            if arg:
                raise InputError(f"schedule {kind!r} takes no parameter, got {spec!r}")
            return cls(kind, samples)
        if not arg:
            raise InputError(f"schedule {kind!r} needs a parameter, e.g. '{kind}:1.5'")
        rate = as_float(f"{kind} schedule parameter", arg)
        if kind == "poly" and rate < 0:
            raise InputError(f"poly schedule exponent must be >= 0, got {rate}")
        if kind == "geometric" and rate <= 0:
            raise InputError(f"geometric schedule ratio must be > 0, got {rate}")
        return cls(kind, samples, rate)

    def sizes(self, generations: int) -> np.ndarray:
        """M_0 ... M_{generations-1} as int64, validated to lie in [1, MAX_SAMPLES]."""
        generations = as_int("generations", generations, minimum=0)
        i = np.arange(generations, dtype=np.float64)
        if self.kind == "constant":
            m = np.full(generations, float(self.samples))
        elif self.kind == "linear":
            m = self.samples * (i + 1)
        elif self.kind == "poly":
            m = np.round(self.samples * (i + 1) ** self.rate)
        elif self.kind == "geometric":
            with np.errstate(over="ignore"):
                m = np.round(self.samples * np.power(self.rate, i))
        else:
            if len(self.values) < generations:
                raise InputError(
                    f"explicit schedule has {len(self.values)} sizes but {generations} generations were asked for"
                )
            m = np.asarray(self.values[:generations], dtype=np.float64)
        if generations and (not np.all(np.isfinite(m)) or m.max() > MAX_SAMPLES):
            worst = int(np.argmax(~np.isfinite(m) | (m > MAX_SAMPLES)))
            raise InputError(
                f"schedule {self.describe()} reaches M_{worst} = {m[worst]:.4g} > {MAX_SAMPLES} "
                f"(the largest supported sample size); use fewer generations or a slower schedule"
            )
        m = np.maximum(m, 1.0)
        return m.astype(np.int64)

    def describe(self) -> str:
        if self.kind == "list":
            return f"list({len(self.values)} sizes)"
        return self.kind if self.rate is None else f"{self.kind}:{self.rate:g}"

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "samples": self.samples, "rate": self.rate,
                "values": list(self.values) if self.values else None}


@dataclass(frozen=True)
class Process:
    """Everything about the recursion that is independent of the model family."""

    schedule: Schedule
    mixing: Mixing
    workflow: str
    generations: int

    @classmethod
    def resolve(
        cls,
        *,
        samples: int | None,
        generations: int,
        schedule: "str | Sequence[int] | Schedule" = "constant",
        workflow: str = "replace",
        alpha: float | None = None,
        beta: float = 0.0,
        gamma: float = 0.0,
    ) -> "Process":
        generations = as_int("generations", generations, minimum=0)
        sched = Schedule.parse(schedule, samples)
        choice("workflow", workflow, WORKFLOWS)
        proc = cls(sched, Mixing.resolve(alpha, beta, gamma), workflow, generations)
        proc.sizes()  # validate the whole schedule now, not half-way through a run
        return proc

    def sizes(self) -> np.ndarray:
        return self.schedule.sizes(self.generations)

    def pool_sizes(self) -> np.ndarray:
        """Size of the accumulated pool after each generation's data is added (accumulate workflows)."""
        return np.cumsum(self.sizes())

    def to_config(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "schedule": self.schedule.to_config(),
            "workflow": self.workflow,
            "alpha": self.mixing.alpha,
            "beta": self.mixing.beta,
            "gamma": self.mixing.gamma,
        }


def harmonic_sum(sizes: np.ndarray) -> np.ndarray:
    """S_n = sum_{i<n} 1/M_i for n = 0..len(sizes): the quantity the paper's bound is about."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.asarray(sizes, dtype=np.float64))])


__all__ = ["Mixing", "Schedule", "Process", "WORKFLOWS", "SCHEDULES", "harmonic_sum"]
