"""The one process every model family simulates (docs/THEORY.md §1).

Generation i has a dataset D_i of M_i samples; a model is fitted to D_i, and D_{i+1} is drawn from

    p_{i+1} = alpha_i * (new model) + beta_i * p_i + gamma_i * p_0,      alpha_i + beta_i + gamma_i = 1,

where p_i is the distribution D_i was drawn from and p_0 the original (real) data. The *workflow*
says what the model is fitted on:

- ``replace``: only the newest dataset (the paper's main setting);
- ``accumulate``: every dataset so far, pooled (Gerstgrasser et al. 2024);
- ``accumulate-subsample``: a subset of M_i points drawn without replacement from that pool
  (Kazdan et al. 2024).

A *schedule* gives the sample size M_i of every generation (the paper's theorem bounds the error
only when sum 1/M_i converges), and each mixing weight may change over the generations too (the
real-data share falling as generated text fills the web). Everything is evaluated block by block
(:meth:`Process.table`), so a run of 10^9 generations never holds a 10^9-row table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import InputError, as_float, as_int, choice

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample")
SCHEDULES = ("constant", "linear", "poly", "geometric", "list")
WEIGHT_KINDS = ("constant", "linear", "exp", "list")
MIX_TOLERANCE = 1e-9
CHECK_ALL = 10**7  # schedules up to this many generations are checked value by value

# Counts are int32 on the device (JAX's default without x64), so sample sizes stay below 2^31.
MAX_SAMPLES = 2**31 - 1


def _numbers(name: str, text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name} needs comma-separated numbers, got {text!r}") from None


def _spec_text(spec: Any) -> str:
    return spec if isinstance(spec, str) else repr(spec)


# ---------------------------------------------------------------------------------------------
# Mixing weights over generations


@dataclass(frozen=True)
class Weight:
    """One mixing weight w_i over generations i = 0, 1, ...:

    - constant ``w``:              w
    - ``linear:A,B``:              from A at generation 0 to B at the last generation, linearly
    - ``exp:A,R``:                 A · R^i
    - ``list:w0,w1,...``:          explicit values, one per generation
    """

    kind: str = "constant"
    a: float = 0.0
    b: float = 0.0
    values: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, name: str, spec: "float | str | Sequence[float] | Weight") -> "Weight":
        if isinstance(spec, Weight):
            return spec
        if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
            return cls("constant", as_float(name, spec))
        if not isinstance(spec, str):
            try:
                values = tuple(as_float(f"{name} value", v) for v in spec)
            except TypeError:
                raise InputError(f"{name} must be a number, a schedule string or a list, got {spec!r}") from None
            if not values:
                raise InputError(f"an explicit {name} schedule needs at least one value")
            return cls("list", values[0], values[-1], values)
        kind, sep, arg = spec.partition(":")
        if not sep:
            return cls("constant", as_float(name, spec))
        choice(f"{name} schedule", kind, WEIGHT_KINDS[1:])
        numbers = _numbers(f"{name} schedule {kind!r}", arg)
        if kind == "list":
            return cls.parse(name, numbers)
        if len(numbers) != 2:
            raise InputError(f"{name} schedule '{kind}:A,{'B' if kind == 'linear' else 'R'}' needs two numbers, "
                             f"got {spec!r}")
        if kind == "exp" and numbers[1] <= 0:
            raise InputError(f"{name} schedule 'exp:A,R' needs a ratio R > 0, got {spec!r}")
        return cls(kind, numbers[0], numbers[1])

    @property
    def constant(self) -> bool:
        return self.kind == "constant"

    def at(self, start: int, stop: int, generations: int) -> np.ndarray:
        """w_start .. w_{stop-1} (float64)."""
        return self.at_generations(np.arange(start, stop), generations)

    def at_generations(self, i: np.ndarray, generations: int) -> np.ndarray:
        """w_i at the generations ``i`` (float64)."""
        i = np.asarray(i, dtype=np.float64)
        if self.kind == "constant":
            return np.full(i.size, self.a)
        if self.kind == "linear":
            frac = i / max(generations - 1, 1)
            return self.a + (self.b - self.a) * frac
        if self.kind == "exp":
            with np.errstate(under="ignore", over="ignore"):
                return self.a * np.power(self.b, i)
        values = np.asarray(self.values, dtype=np.float64)
        if i.size and i.max() >= values.size:
            raise InputError(f"explicit mixing schedule has {values.size} values but {int(i.max()) + 1} "
                             "generations were asked for")
        return values[i.astype(np.int64)]

    def describe(self) -> Any:
        if self.kind == "constant":
            return self.a
        if self.kind == "list":
            return list(self.values)
        return f"{self.kind}:{self.a:g},{self.b:g}"


@dataclass(frozen=True)
class Mixing:
    """Weights of the next data distribution: new model, previous data, original data.

    Each is a :class:`Weight` (a number, or a schedule over generations); ``alpha`` defaults to
    ``1 - beta - gamma`` in every generation."""

    alpha: Weight | None = None
    beta: Weight = Weight()
    gamma: Weight = Weight()

    @classmethod
    def resolve(cls, alpha: Any = None, beta: Any = 0.0, gamma: Any = 0.0) -> "Mixing":
        mix = cls(None if alpha is None else Weight.parse("alpha", alpha), Weight.parse("beta", beta),
                  Weight.parse("gamma", gamma))
        if mix.constant:
            mix.at(0, 1, 1)  # validate now; schedules are validated with the number of generations
        return mix

    @property
    def constant(self) -> bool:
        return all(w is None or w.constant for w in (self.alpha, self.beta, self.gamma))

    def at(self, start: int, stop: int, generations: int) -> dict[str, np.ndarray]:
        """alpha, beta, gamma for generations start .. stop-1, validated."""
        return self.at_generations(np.arange(start, stop), generations)

    def at_generations(self, gens: np.ndarray, generations: int) -> dict[str, np.ndarray]:
        """alpha, beta, gamma at the generations ``gens``, validated."""
        gens = np.asarray(gens, dtype=np.int64)
        beta = self.beta.at_generations(gens, generations)
        gamma = self.gamma.at_generations(gens, generations)
        alpha = 1.0 - beta - gamma if self.alpha is None else self.alpha.at_generations(gens, generations)

        def where(i: int) -> str:
            return "" if self.constant else f" at generation {int(gens[i])}"

        named = (("beta", beta), ("gamma", gamma),
                 ("alpha" if self.alpha is not None else "alpha = 1 - beta - gamma", alpha))
        for name, w in named:
            bad = (w < 0) | (w > 1) | ~np.isfinite(w)
            if bad.any():
                i = int(np.argmax(bad))
                raise InputError(f"mixing weight {name} must lie in [0, 1], got {w[i]:.6g}{where(i)}")
        total = alpha + beta + gamma
        off = np.abs(total - 1.0) > MIX_TOLERANCE
        if off.any():
            i = int(np.argmax(off))
            raise InputError(f"mixing weights must sum to 1 (within {MIX_TOLERANCE}): alpha + beta + gamma = "
                             f"{alpha[i]:.6g} + {beta[i]:.6g} + {gamma[i]:.6g} = {total[i]:.6g}{where(i)}")
        return {"alpha": alpha, "beta": beta, "gamma": gamma}

    def validate(self, generations: int) -> None:
        """Check every generation's weights (beyond CHECK_ALL generations, 10^6 of them spread over
        the run including both ends; each block is checked again when it is built)."""
        if generations <= CHECK_ALL:
            self.at(0, generations, generations)
        else:
            self.at_generations(np.unique(np.linspace(0, generations - 1, 10**6).astype(np.int64)), generations)

    def uses(self, name: str) -> bool:
        """Whether weight ``name`` ('beta' or 'gamma') is ever non-zero."""
        w = getattr(self, name)
        return not (w.constant and w.a == 0.0)

    def constant_values(self) -> tuple[float, float, float]:
        """(alpha, beta, gamma) of a mixing that does not change over generations."""
        if not self.constant:
            raise InputError("this needs constant mixing weights, not schedules")
        a = self.at(0, 1, 1)
        return float(a["alpha"][0]), float(a["beta"][0]), float(a["gamma"][0])

    def to_config(self) -> dict[str, Any]:
        alpha = None if self.alpha is None else self.alpha.describe()
        return {"alpha": alpha, "beta": self.beta.describe(), "gamma": self.gamma.describe()}


# ---------------------------------------------------------------------------------------------
# Sample sizes over generations


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

    def _raw(self, start: int, stop: int) -> np.ndarray:
        i = np.arange(start, stop, dtype=np.float64)
        if self.kind == "constant":
            return np.full(i.size, float(self.samples))
        if self.kind == "linear":
            return self.samples * (i + 1)
        if self.kind == "poly":
            with np.errstate(over="ignore"):
                return np.round(self.samples * (i + 1) ** self.rate)
        if self.kind == "geometric":
            with np.errstate(over="ignore"):
                return np.round(self.samples * np.power(self.rate, i))
        if stop > len(self.values):
            raise InputError(f"explicit schedule has {len(self.values)} sizes but {stop} generations were asked for")
        return np.asarray(self.values[start:stop], dtype=np.float64)

    def _checked(self, m: np.ndarray, start: int) -> np.ndarray:
        if m.size and (not np.all(np.isfinite(m)) or m.max() > MAX_SAMPLES):
            worst = start + int(np.argmax(~np.isfinite(m) | (m > MAX_SAMPLES)))
            value = m[worst - start]
            raise InputError(
                f"schedule {self.describe()} reaches M_{worst} = {value:.4g} > {MAX_SAMPLES} "
                f"(the largest supported sample size); use fewer generations or a slower schedule"
            )
        return np.maximum(m, 1.0).astype(np.int64)

    def sizes_range(self, start: int, stop: int) -> np.ndarray:
        """M_start ... M_{stop-1} as int64, validated to lie in [1, MAX_SAMPLES]."""
        return self._checked(self._raw(start, stop), start)

    def sizes(self, generations: int) -> np.ndarray:
        """M_0 ... M_{generations-1} as int64, validated to lie in [1, MAX_SAMPLES]."""
        return self.sizes_range(0, as_int("generations", generations, minimum=0))

    def validate(self, generations: int) -> None:
        """Check every M_i without materialising them (the analytic kinds are monotone)."""
        if generations == 0:
            return
        if self.kind == "list" or generations <= CHECK_ALL:
            self.sizes_range(0, generations)
        else:
            self._checked(self._raw(0, 1), 0)
            self._checked(self._raw(generations - 1, generations), generations - 1)

    def extremes(self, generations: int) -> tuple[int, int, int, int]:
        """(smallest M, its generation, largest M, its generation) over the first ``generations``,
        without materialising a long schedule (the analytic kinds are monotone)."""
        if self.kind == "list" or generations <= CHECK_ALL:
            m = self.sizes_range(0, generations)
            lo, hi = int(np.argmin(m)), int(np.argmax(m))
            return int(m[lo]), lo, int(m[hi]), hi
        ends = self.sizes_range(0, 1)[0], self._checked(self._raw(generations - 1, generations), generations - 1)[0]
        lo, hi = (0, generations - 1) if ends[0] <= ends[1] else (generations - 1, 0)
        return int(min(ends)), lo, int(max(ends)), hi

    def prefix_sum(self, n: int, known: tuple[int, int] = (0, 0)) -> int:
        """M_0 + ... + M_{n-1} (exact integers): O(1) for constant/linear, else summed in chunks from
        ``known`` = (k, M_0 + ... + M_{k-1}) with k <= n (block-by-block callers pass the last one)."""
        if self.kind == "constant":
            return self.samples * n
        if self.kind == "linear":
            return self.samples * n * (n + 1) // 2
        k, total = known if known[0] <= n else (0, 0)
        for lo in range(k, n, 1 << 20):
            total += int(self.sizes_range(lo, min(n, lo + (1 << 20))).sum())
        return total

    def describe(self) -> str:
        if self.kind == "list":
            return f"list({len(self.values)} sizes)"
        return self.kind if self.rate is None else f"{self.kind}:{self.rate:g}"

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "samples": self.samples, "rate": self.rate,
                "values": list(self.values) if self.values else None}


# ---------------------------------------------------------------------------------------------
# The process


@dataclass(frozen=True)
class Process:
    """Everything about the recursion that is independent of the model family."""

    schedule: Schedule
    mixing: Mixing
    workflow: str
    generations: int
    _prefix: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # table()'s memo

    @classmethod
    def resolve(
        cls,
        *,
        samples: int | None,
        generations: int,
        schedule: "str | Sequence[int] | Schedule" = "constant",
        workflow: str = "replace",
        alpha: Any = None,
        beta: Any = 0.0,
        gamma: Any = 0.0,
    ) -> "Process":
        generations = as_int("generations", generations, minimum=0)
        sched = Schedule.parse(schedule, samples)
        choice("workflow", workflow, WORKFLOWS)
        proc = cls(sched, Mixing.resolve(alpha, beta, gamma), workflow, generations)
        # validate the whole run now, not half-way through it
        sched.validate(generations)
        proc.mixing.validate(generations)
        return proc

    def sizes(self) -> np.ndarray:
        return self.schedule.sizes(self.generations)

    def pool_sizes(self) -> np.ndarray:
        """Size of the accumulated pool after each generation's data is added (accumulate workflows)."""
        return np.cumsum(self.sizes())

    def table(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Per-generation inputs for generations start .. stop-1: the sample size ``m``, the pooled
        size after this generation's data ``pool``, and the mixing weights."""
        m = self.schedule.sizes_range(start, stop)
        before = self.schedule.prefix_sum(start, self._prefix.get("last", (0, 0)))
        self._prefix["last"] = (stop, before + int(m.sum()))
        pool = before + np.cumsum(m)
        return {"m": m, "pool": pool, **self.mixing.at(start, stop, self.generations)}

    def to_config(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "schedule": self.schedule.to_config(),
            "workflow": self.workflow,
            **self.mixing.to_config(),
        }


def harmonic_sum(sizes: np.ndarray) -> np.ndarray:
    """S_n = sum_{i<n} 1/M_i for n = 0..len(sizes): the quantity the paper's bound is about."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.asarray(sizes, dtype=np.float64))])


__all__ = ["Mixing", "Weight", "Schedule", "Process", "WORKFLOWS", "SCHEDULES", "harmonic_sum"]
