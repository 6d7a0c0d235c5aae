"""Multivariate hypergeometric counts (drawing without replacement), for accumulate-subsample."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .binomial import log_binomial_pmf
from .multinomial import _split_categories

def log_hypergeometric_pmf(k, draws, good, bad):
    """log P(X = k) for X ~ Hypergeometric(draws from good + bad), via three binomial pmfs at
    p = draws / (good + bad) (exact identity; each term is computed stably)."""
    total = good + bad
    p = jnp.clip(draws / jnp.maximum(total, 1.0), 1e-30, 1.0 - 1e-7)
    return (log_binomial_pmf(k, good, p) + log_binomial_pmf(draws - k, bad, p)
            - log_binomial_pmf(draws, total, p))


def _hypergeometric_from_uniform(draws, good, bad, u):
    """Inversion over the support ordered outward from the mode (mode, mode+1, mode-1, ...).
    Any fixed ordering of the support gives an exact sample; this one needs O(sd) steps."""
    lo_k = jnp.maximum(0.0, draws - bad)
    hi_k = jnp.minimum(draws, good)
    mode = jnp.clip(jnp.floor((draws + 1.0) * (good + 1.0) / (good + bad + 2.0)), lo_k, hi_k)
    pmf_mode = jnp.exp(log_hypergeometric_pmf(mode, draws, good, bad))

    def ratio_up(k):  # P(k+1)/P(k)
        return (good - k) * (draws - k) / ((k + 1.0) * (bad - draws + k + 1.0))

    def cond(state):
        return ~jnp.all(state[-1])

    def body(state):
        k_out, lo, hi, pmf_lo, pmf_hi, cdf, done = state
        can_up = hi < hi_k
        can_down = lo > lo_k
        pmf_up = jnp.where(can_up, pmf_hi * ratio_up(hi), 0.0)
        pmf_down = jnp.where(can_down, pmf_lo / jnp.where(can_down, ratio_up(lo - 1.0), 1.0), 0.0)
        # Up first, then down, each iteration: a fixed ordering of the support.
        cdf_up = cdf + pmf_up
        take_up = ~done & can_up & (u <= cdf_up)
        cdf2 = cdf_up + pmf_down
        take_down = ~done & ~take_up & can_down & (u <= cdf2)
        k_out = jnp.where(take_up, hi + 1.0, jnp.where(take_down, lo - 1.0, k_out))
        exhausted = (~can_up & ~can_down) | ((pmf_up == 0) & (pmf_down == 0) & (cdf2 > 0.5))
        done_new = done | take_up | take_down | exhausted
        step = ~done
        hi = jnp.where(step & can_up, hi + 1.0, hi)
        lo = jnp.where(step & can_down, lo - 1.0, lo)
        pmf_hi = jnp.where(step & can_up, pmf_up, pmf_hi)
        pmf_lo = jnp.where(step & can_down, pmf_down, pmf_lo)
        cdf = jnp.where(step, cdf2, cdf)
        return k_out, lo, hi, pmf_lo, pmf_hi, cdf, done_new

    done0 = (u <= pmf_mode) | (hi_k <= lo_k)
    state = (mode, mode, mode, pmf_mode, pmf_mode, pmf_mode, done0)
    return lax.while_loop(cond, body, state)[0]


def _hypergeometric_split(n, mass, after, uniforms):
    fdt = uniforms.dtype
    u, _ = uniforms.pair(0)
    k = _hypergeometric_from_uniform(n.astype(fdt), mass.astype(fdt), after.astype(fdt), u)
    return k.astype(n.dtype)


def multivariate_hypergeometric(keys_C: jax.Array, n_C, pool_CxK: jax.Array, dtype=None) -> jax.Array:
    """Counts of ``n_c`` items drawn without replacement from a pool with ``pool_CxK`` items per
    category (integer counts), for each row c. Requires n_c <= pool total."""
    pool_CxK = jnp.asarray(pool_CxK)
    fdt = dtype or jnp.result_type(float)
    n_C = jnp.broadcast_to(jnp.asarray(n_C, pool_CxK.dtype), pool_CxK.shape[:1])
    return _split_categories(keys_C, n_C, pool_CxK, _hypergeometric_split, fdt)
