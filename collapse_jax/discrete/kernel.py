"""The discrete family's kernel: a categorical model refitted to its own multinomial samples.

Pure and batched. The layout is **[K, C]** (categories × chains): every state leaf has the chain
axis last, so per-chain values (C,) broadcast against the model and the sampler walks categories
without transposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from .. import samplers
from ..core.kernel import Kernel, Params, select_column
from ..core.streams import stream


class State(NamedTuple):
    model: jax.Array  # (K, C) the fitted model p_t
    prev: jax.Array  # (K, C) the distribution the latest data came from (beta > 0), else (0, C)
    pool: jax.Array  # (K, C) accumulated counts (accumulate workflows), else (0, C)
    absorbed_at: jax.Array  # (C,) first generation with one state left, -1 if none yet
    first_extinction: jax.Array  # (C,) first generation a state of p_0 was lost, -1 if none yet


def sum_over_categories(x: jax.Array) -> jax.Array:
    """Sum over axis 0 by a pairwise tree of elementwise adds: the order of the adds depends on K
    alone, so a chain's metrics are bit-identical whatever the number of chains beside it (XLA's
    own reductions may order them differently for another batch width); rounding is O(log K)."""
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        top = x[:half] + x[half:2 * half]
        x = jnp.concatenate([top, x[2 * half:]]) if x.shape[0] % 2 else top
    return x[0]


def metrics_of(p_KxC: jax.Array, p0_K: jax.Array, tail_K: jax.Array) -> dict[str, jax.Array]:
    """Per-chain metrics (C,) of the models p (K, C) against p_0; ``p0_K``/``tail_K`` are (K,) or
    (K, C). 0 log 0 = 0; KL(p_0 ‖ p) is +inf once a state of p_0 is lost, never NaN. Sums over
    categories are :func:`sum_over_categories` (bit-identical per chain at any batch width)."""
    p0 = p0_K if p0_K.ndim == 2 else p0_K[:, None]
    tail = tail_K if tail_K.ndim == 2 else tail_K[:, None]
    alive = p_KxC > 0
    safe = jnp.where(alive, p_KxC, 1.0)
    p0_alive = p0 > 0
    kl_terms = jnp.where(p0_alive, p0 * (jnp.log(jnp.where(p0_alive, p0, 1.0)) - jnp.log(safe)), 0.0)
    lost = jnp.any(p0_alive & ~alive, axis=0)
    surviving = alive.sum(0)
    dtype = p_KxC.dtype
    return {
        "gini_simpson": 1.0 - sum_over_categories(p_KxC * p_KxC),
        "entropy": -sum_over_categories(jnp.where(alive, p_KxC * jnp.log(safe), 0.0)),
        "surviving": surviving.astype(dtype),
        "tv": 0.5 * sum_over_categories(jnp.abs(p_KxC - p0)),
        "kl": jnp.where(lost, jnp.inf, sum_over_categories(kl_terms)),
        "tail_lost": sum_over_categories(jnp.where(tail & ~alive, p0, 0.0)),
        "absorbed": (surviving == 1).astype(dtype),
    }


METRICS = ("gini_simpson", "entropy", "surviving", "tv", "kl", "tail_lost", "absorbed")


@dataclass(frozen=True)
class DiscreteKernel(Kernel):
    """Static configuration: the workflow, the precision, which mixing terms ever appear, and the
    samplers' tuning (exact whatever its values; only the speed and compile time change)."""

    workflow: str = "replace"
    dtype: str = "float32"
    uses_beta: bool = False
    uses_gamma: bool = False
    tuning: samplers.Tuning = samplers.DEFAULT  # the samplers' static knobs (benchmarks, tests)

    name: ClassVar[str] = "discrete"
    chain_axis: ClassVar[int] = -1
    lane_params: ClassVar[tuple[str, ...]] = ("p0", "tail")

    @property
    def float_dtype(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    @property
    def int_dtype(self):
        return jnp.int64 if self.dtype == "float64" else jnp.int32

    def init(self, params: Params, chains: int) -> State:
        p0 = jnp.asarray(params.get("p0"), self.float_dtype)
        model = jnp.broadcast_to(p0 if p0.ndim == 2 else p0[:, None], (p0.shape[0], chains))
        k = model.shape[0]
        accumulate = self.workflow != "replace"
        return State(
            model=model,
            prev=model if self.uses_beta else jnp.zeros((0, chains), self.float_dtype),
            pool=jnp.zeros((k if accumulate else 0, chains), self.int_dtype),
            absorbed_at=jnp.where(model.max(0) >= 1.0, 0, -1).astype(jnp.int32),
            first_extinction=jnp.full((chains,), -1, jnp.int32),
        )

    def step(self, keys_C, state: State, params: Params, x) -> State:
        x = select_column(x, params)
        p0 = jnp.asarray(params.get("p0"), self.float_dtype)
        p0 = p0 if p0.ndim == 2 else p0[:, None]
        fdt = self.float_dtype
        q = x["alpha"].astype(fdt) * state.model
        if self.uses_beta:
            q = q + x["beta"].astype(fdt) * state.prev
        if self.uses_gamma:
            q = q + x["gamma"].astype(fdt) * p0
        m = x["m"].astype(self.int_dtype)
        counts = samplers.multinomial_KC(keys_C, m, q, self.tuning)
        if self.workflow == "replace":
            pool = state.pool
            model = counts.astype(fdt) / m.astype(fdt)
        else:
            pool = state.pool + counts
            if self.workflow == "accumulate":
                fit, size = pool, x["pool"]
            else:  # accumulate-subsample: M_t points drawn without replacement from the pool
                fit = samplers.multivariate_hypergeometric_KC(stream(keys_C, "subsample"), m, pool, dtype=fdt,
                                                               tuning=self.tuning)
                size = m
            model = fit.astype(fdt) / size.astype(fdt)
        generation = (x["t"] + 1).astype(jnp.int32)
        alive = model > 0
        absorbed = alive.sum(0) == 1
        lost = jnp.any((p0 > 0) & ~alive, axis=0)
        return State(
            model=model,
            prev=q if self.uses_beta else state.prev,
            pool=pool,
            absorbed_at=jnp.where((state.absorbed_at < 0) & absorbed, generation, state.absorbed_at),
            first_extinction=jnp.where((state.first_extinction < 0) & lost, generation, state.first_extinction),
        )

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        p0 = jnp.asarray(params.get("p0"), self.float_dtype)
        return metrics_of(state.model, p0, jnp.asarray(params.get("tail")))

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return {"p": state.model}


__all__ = ["DiscreteKernel", "State", "metrics_of", "sum_over_categories", "METRICS"]
