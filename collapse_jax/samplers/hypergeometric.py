"""Multivariate hypergeometric counts (drawing without replacement), for accumulate-subsample.

The same lane state machine as the multinomial (:func:`.multinomial.split_categories`): chain c's
draws of n items from a pool with ``pool[k, c]`` items of category k are conditional
hypergeometric splits over its categories with items, count_k ~ HG(n left; pool_k good, pool
after k bad), the last such category taking what is left.

One split, :func:`hypergeometric_trip`: degenerate cases (nothing to draw, no good or no bad
items, everything drawn) are exact and loop-free. Otherwise the problem is reduced by the
symmetries (draw at most half the population; count the rarer kind) and sampled by Stadlober's
ratio-of-uniforms (HRUA): X = a + h(V − ½)/U, accepted when U² ≤ f(⌊X⌋)/f(m). The ratio
f(k)/f(m) is written as two binomial pmf ratios at p = draws/population (an exact identity), each
evaluated in the integer offset from the mode (:func:`.binomial.binom_log_ratio`), so it stays
accurate in float32 for populations up to 2³¹−1. A rejection returns ``REJECTED`` and the lane
retries with its next attempt in a later trip.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from .binomial import (DEFAULT, REJECTED, Tuning, binom_log_ratio, bits_to_unit, float_dtype, int_dtype,
                       log_binomial_pmf)
from .multinomial import alive_pass, split_categories
from .threefry import threefry2x32

_D1 = 1.7155277699214135  # 2 sqrt(2/e)
_D2 = 0.8989161620588988  # 3 − 2 sqrt(3/e)


def log_hypergeometric_pmf(k, draws, good, bad):
    """log P(X = k) for X ~ Hypergeometric(draws from good + bad), via three binomial pmfs at
    p = draws / (good + bad) (exact identity; each term is computed stably)."""
    total = good + bad
    p = jnp.clip(draws / jnp.maximum(total, 1.0), 1e-30, 1.0 - 1e-7)
    return (log_binomial_pmf(k, good, p) + log_binomial_pmf(draws - k, bad, p)
            - log_binomial_pmf(draws, total, p))


def hypergeometric_mode(draws, marked, total):
    """The mode ⌊(draws+1)(marked+1)/(total+2)⌋ of HG(draws; marked of total), computed in floats
    and then corrected by one step of the pmf ratio, so rounding never leaves it off the mode."""
    fdt = float_dtype(jnp.asarray(0.0))
    d, g, t = (a.astype(fdt) for a in (draws, marked, total))
    m = jnp.floor((d + 1.0) * ((g + 1.0) / (t + 2.0))).astype(draws.dtype)
    hi = jnp.minimum(draws, marked)
    m = jnp.clip(m, 0, hi)
    mf = m.astype(fdt)
    # f(m+1)/f(m) = (g − m)(d − m) / ((m+1)(t − g − d + m + 1))
    up = (g - mf) * (d - mf) > (mf + 1.0) * (t - g - d + mf + 1.0)
    down = mf * (t - g - d + mf) > (g - mf + 1.0) * (d - mf + 1.0)
    return jnp.clip(jnp.where(up, m + 1, jnp.where(down, m - 1, m)), 0, hi)


def hypergeometric_trip(draws, good, bad, k0, k1, node, attempt, active, tuning: Tuning = DEFAULT,
                        dtype=None):
    """One trip of the per-lane hypergeometric: the number of good items among ``draws`` drawn
    without replacement from ``good`` + ``bad`` (integers), or ``REJECTED`` (−1) when the
    ratio-of-uniforms proposal from the Threefry words of (``node``, ``attempt``) was rejected."""
    fdt = dtype or float_dtype(jnp.asarray(0.0))
    total = good + bad
    trivial = (draws <= 0) | (good <= 0) | (bad <= 0) | (draws >= total)
    x_trivial = jnp.where((draws <= 0) | (good <= 0), 0, jnp.where(bad <= 0, draws, good))
    # Symmetries: draw cs = min(draws, total − draws) and count the rarer kind (mg ≤ big).
    flip_draws = 2 * draws > total
    cs = jnp.where(flip_draws, total - draws, draws)
    flip_kind = good > bad
    mg = jnp.where(flip_kind, bad, good)
    big = total - mg
    # Harmless parameters for trivial lanes.
    cs = jnp.where(trivial, 1, cs)
    mg = jnp.where(trivial, 1, mg)
    big = jnp.where(trivial, 1, big)
    tot = mg + big
    csf, mgf, bigf, totf = (a.astype(fdt) for a in (cs, mg, big, tot))
    p_marked = mgf / totf
    mean = csf * p_marked
    var = (totf - csf) / jnp.maximum(totf - 1.0, 1.0) * mean * (bigf / totf)
    a = mean + 0.5
    h = _D1 * jnp.sqrt(var + 0.5) + _D2
    m = hypergeometric_mode(cs, mg, tot)
    y0, y1 = threefry2x32(k0, k1, node, attempt)
    u = bits_to_unit(y0, fdt)
    v = bits_to_unit(y1, fdt)
    xf = a + h * (v - 0.5) / u
    upper = jnp.minimum(csf, mgf) + 1.0
    in_range = (xf >= 0.0) & (xf < upper)
    k = jnp.floor(jnp.clip(xf, 0.0, upper - 1.0)).astype(cs.dtype)
    # f(k)/f(m) = Bin(mg, p)(k)/Bin(mg, p)(m) · Bin(big, p)(cs − k)/Bin(big, p)(cs − m), p = cs/total.
    p = csf / totf
    log_ratio = binom_log_ratio(k, m, mg, p) + binom_log_ratio(cs - k, cs - m, big, p)
    accept = in_range & (2.0 * jnp.log(u) <= log_ratio)
    accept = accept | (attempt >= tuning.max_attempts - 1)  # the guard: never reached in practice
    y = jnp.where(flip_kind, cs - k, k)  # good items among the cs drawn
    y = jnp.where(flip_draws, good - y, y)  # ... among the draws (the complement of the cs)
    x = jnp.where(accept, y, REJECTED)
    return jnp.where(trivial, x_trivial, x)


@partial(jax.jit, static_argnames=("dtype", "tuning"))
def multivariate_hypergeometric_KC(keys_C: jax.Array, n_C, pool_KxC: jax.Array, dtype=None,
                                   tuning: Tuning = DEFAULT) -> jax.Array:
    """Counts_KxC of ``n_c`` items drawn without replacement from a pool with ``pool_KxC[k, c]``
    items of category k, for every chain c (column). Requires n_c ≤ the column's total. Integer
    counts (the pool's dtype); ``dtype`` is the float type of the arithmetic (default: float32,
    float64 under x64). Column c depends on ``keys_C[c]``, ``n_C[c]`` and its pool alone."""
    pool_KxC = jnp.asarray(pool_KxC)
    idt = pool_KxC.dtype if jnp.issubdtype(pool_KxC.dtype, jnp.integer) else int_dtype()
    pool = jnp.maximum(pool_KxC.astype(idt), 0)
    K, C = pool.shape
    fdt = dtype or float_dtype(jnp.asarray(0.0))
    n_C = jnp.maximum(jnp.broadcast_to(jnp.asarray(n_C, idt), (C,)), 0)
    after, code, first, alive = alive_pass(pool, tuning)

    def split(n_left, values, k0, k1, node, attempt, live):
        good, bad = values
        return hypergeometric_trip(n_left, good, bad, k0, k1, node, attempt, live, tuning, fdt)

    return split_categories(keys_C, n_C, (pool, after), code, first, alive, split, tuning)


@partial(jax.jit, static_argnames=("dtype", "tuning"))
def multivariate_hypergeometric(keys_C: jax.Array, n_C, pool_CxK: jax.Array, dtype=None,
                                tuning: Tuning = DEFAULT) -> jax.Array:
    """The [C, K] view of :func:`multivariate_hypergeometric_KC` (same draws)."""
    return multivariate_hypergeometric_KC(keys_C, n_C, jnp.asarray(pool_CxK).T, dtype, tuning).T
