"""The Poisson family's kernel, and the exact Poisson sampler it draws with.

One number per chain: the rate λ_t. A generation draws M_t points from Poisson(λ_t) (a share γ_t
of them from Poisson(λ_0), the real data) and refits λ by the sample mean. Only the sum of the
points matters, and a sum of independent Poissons is Poisson, so a generation is one draw:
S ~ Poisson((M_t − R) λ_t + R λ_0) with R ~ Binomial(M_t, γ_t) real points; then λ_{t+1} = S / M_t
(replace) or the pooled sum over the pooled size (accumulate). The layout is (C,) per chain.

**The sampler** (:func:`poisson_lanes`) is exact in law for every mean and addressable: lane c's
uniforms hash (its key, attempt) with Threefry (:class:`~collapse_jax.samplers.LaneUniforms`).
Means below 10 use sequential-search inversion; larger means Hörmann's transformed rejection
(PTRS, 1993) with the log-probability in Loader's saddle-point form (``stirlerr`` + ``bd0``),
whose error is relative to its own size, so the acceptance test stays accurate in float32 where
k log μ − log k! would cancel catastrophically (JAX's own sampler evaluates it that way). Counts
are floats: exact integers below 2^24 in float32 (beyond, rounded like λ itself), 2^53 in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ..core.kernel import Kernel, Params, select_column
from ..samplers.binomial import bd0, binomial_keyed, stirlerr
from ..samplers.threefry import LaneUniforms

INVERSION_MEAN = 10.0  # PTRS needs a mean of at least 10 (Hörmann 1993)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
MIX_PURPOSE = 1  # fold_in index of the key that draws how many points are real


def log_poisson_pmf(k: jax.Array, mu: jax.Array) -> jax.Array:
    """log P(Poisson(μ) = k) for integer-valued k >= 0 and μ > 0: −stirlerr(k) − bd0(k, μ) − ½ ln 2πk."""
    kk = jnp.maximum(k, 1.0)
    return jnp.where(k == 0, -mu, -stirlerr(kk) - bd0(kk, mu) - _HALF_LOG_2PI - 0.5 * jnp.log(kk))


def lane_uniforms(keys_C: jax.Array, dtype) -> LaneUniforms:
    """Uniform pairs of one draw per chain, addressed by the chain's key and the attempt."""
    kd = jax.random.key_data(keys_C).astype(jnp.uint32)
    return LaneUniforms(kd[:, 0], kd[:, -1], jnp.zeros(kd.shape[0], jnp.uint32), dtype)


def _search(mu: jax.Array, u: jax.Array) -> jax.Array:
    """The smallest k with P(X <= k) >= u, walking up from 0 (means below INVERSION_MEAN).

    Every lane stops: at u, or where the probabilities have underflowed past the mean (float
    rounding left the summed mass just below u, an event of probability below 2^-24)."""

    def walking(state):
        return ~jnp.all(state[3])

    def walk(state):
        k, p, cum, stop = state
        nxt = k + 1.0
        p_next = p * mu / nxt
        return (jnp.where(stop, k, nxt), jnp.where(stop, p, p_next), jnp.where(stop, cum, cum + p_next),
                stop | (u <= cum + p_next) | ((p_next == 0) & (nxt > mu)))

    p0 = jnp.exp(-mu)
    return lax.while_loop(walking, walk, (jnp.zeros_like(mu), p0, p0, u <= p0))[0]


def _ptrs(mu: jax.Array, uniforms: LaneUniforms, todo: jax.Array) -> jax.Array:
    """Hörmann's PTRS for the lanes ``todo`` (others return 0): attempt j of lane c uses the pair
    (c, j), and the batch repeats until every lane has accepted once (about 1.1 tries per lane)."""
    mu = jnp.where(todo, mu, 100.0)
    b = 0.931 + 2.53 * jnp.sqrt(mu)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)

    def attempt(state):
        j, k, accepted = state
        u, v = uniforms.pair(j)
        u = u - 0.5
        us = 0.5 - jnp.abs(u)
        cand = jnp.floor((2.0 * a / us + b) * u + mu + 0.43)
        squeeze = (us >= 0.07) & (v <= v_r)
        outside = (cand < 0) | ((us < 0.013) & (v > us))
        cand = jnp.maximum(cand, 0.0)
        under = jnp.log(v * inv_alpha / (a / (us * us) + b)) <= log_poisson_pmf(cand, mu)
        ok = squeeze | (~outside & under)
        return j + 1, jnp.where(accepted, k, cand), accepted | ok

    start = (jnp.asarray(0, jnp.uint32), jnp.zeros_like(mu), ~todo)
    k = lax.while_loop(lambda s: ~jnp.all(s[2]), attempt, start)[1]
    return jnp.where(todo, k, 0.0)


def poisson_lanes(mu: jax.Array, uniforms: LaneUniforms) -> jax.Array:
    """One exact Poisson(μ_c) count per lane (floats of μ's dtype); μ >= 0 (0 gives 0)."""
    small = mu < INVERSION_MEAN
    u0, _ = uniforms.pair(0)
    k_small = lax.cond(jnp.any(small), lambda: _search(jnp.where(small, mu, 0.0), u0), lambda: jnp.zeros_like(mu))
    k_large = lax.cond(jnp.any(~small), lambda: _ptrs(mu, uniforms, ~small), lambda: jnp.zeros_like(mu))
    return jnp.where(small, k_small, k_large)


class State(NamedTuple):
    rate: jax.Array  # (C,) λ_t
    total: jax.Array  # (C,) the pooled sum of every generation's points (accumulate; 0 otherwise)
    absorbed_at: jax.Array  # (C,) first generation with λ = 0 (absorbing when γ = 0), -1 if none yet


@dataclass(frozen=True)
class PoissonKernel(Kernel):
    """Static configuration: the workflow, the precision, whether real data are mixed in."""

    workflow: str = "replace"
    dtype: str = "float32"
    uses_gamma: bool = False

    name: ClassVar[str] = "poisson"
    lane_params: ClassVar[tuple[str, ...]] = ("rate0",)

    @property
    def fdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def init(self, params: Params, chains: int) -> State:
        rate = jnp.broadcast_to(jnp.asarray(params.get("rate0"), self.fdt), (chains,))
        return State(rate, jnp.zeros((chains,), self.fdt), jnp.where(rate == 0, 0, -1).astype(jnp.int32))

    def step(self, keys_C, state: State, params: Params, x) -> State:
        x = select_column(x, params)
        fdt = self.fdt
        m = jnp.broadcast_to(x["m"], state.rate.shape)
        mean = m.astype(fdt) * state.rate
        if self.uses_gamma:
            mix_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys_C, MIX_PURPOSE)
            gamma = jnp.broadcast_to(x["gamma"], m.shape).astype(fdt)
            real = binomial_keyed(mix_keys, m, gamma).astype(fdt)
            mean = (m.astype(fdt) - real) * state.rate + real * jnp.asarray(params.get("rate0"), fdt)
        counts = poisson_lanes(mean, lane_uniforms(keys_C, fdt))
        if self.workflow == "replace":
            total, rate = state.total, counts / m.astype(fdt)
        else:
            total = state.total + counts
            rate = total / x["pool"].astype(fdt)
        newly = (state.absorbed_at < 0) & (rate == 0)
        return State(rate, total, jnp.where(newly, (x["t"] + 1).astype(jnp.int32), state.absorbed_at))

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        return {"rate": state.rate, "absorbed": (state.rate == 0).astype(self.fdt)}

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return {"rate": state.rate}


METRICS = ("rate", "absorbed")

__all__ = ["PoissonKernel", "State", "METRICS", "poisson_lanes", "lane_uniforms", "log_poisson_pmf"]
