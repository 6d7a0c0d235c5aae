"""Exact Binomial(n, p) per lane: inversion for small means, BTRS (Hörmann 1993) otherwise."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from .threefry import LaneUniforms

INVERSION_MEAN = 10.0  # BTRS needs n·p >= 10 (Hörmann 1993)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# lgamma(n + 1) - (n + 1/2) log n + n - log sqrt(2 pi), exact for n = 0..15 (Loader 2000).
_STIRLERR_SMALL = [
    0.0,  # n = 0 only occurs at k = 0 or k = n, where log_binomial_pmf uses its own formula
    0.0810614667953272582196702, 0.0413406959554092940938221, 0.02767792568499833914878929,
    0.02079067210376509311152277, 0.01664469118982119216319487, 0.01387612882307074799874573,
    0.01189670994589177009505572, 0.010411265261972096497478567, 0.009255462182712732917728637,
    0.008330563433362871256469318, 0.007573675487951840794972024, 0.006942840107209529865664152,
    0.006408994188004207068439631, 0.005951370112758847735624416, 0.005554733551962801371038690,
]


def _float_dtype(p: jax.Array):
    return p.dtype if jnp.issubdtype(p.dtype, jnp.floating) else jnp.result_type(float)


def _int_dtype():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def stirlerr(n: jax.Array) -> jax.Array:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n) for integer-valued n >= 0 (the only arguments the
    samplers use): a table up to 15, the Stirling series beyond. No lgamma, so it stays cheap
    when evaluated for every lane."""
    n = jnp.asarray(n)
    small = jnp.asarray(_STIRLERR_SMALL, dtype=n.dtype)[jnp.clip(n, 0, 15).astype(jnp.int32)]
    nn = jnp.maximum(n, 1.0)
    inv2 = 1.0 / (nn * nn)
    series = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188)))) / nn
    return jnp.where(n > 15, series, small)


def bd0(x: jax.Array, np_: jax.Array) -> jax.Array:
    """x log(x / np) + np - x, computed without cancellation when x is close to np."""
    d = x - np_
    s = x + np_
    v = d / jnp.where(s > 0, s, 1.0)
    direct = x * jnp.log(jnp.where(x > 0, x, 1.0) / jnp.where(np_ > 0, np_, 1.0)) + np_ - x
    # Series in v = (x - np)/(x + np): bd0 = d v + 2 x sum_j v^(2j+1)/(2j+1).
    total = d * v
    term = 2.0 * x * v
    v2 = v * v
    # |v| < 0.1 on this branch: v^(2j) falls below the dtype's precision after 4 (f32) / 8 (f64) terms.
    for j in range(1, 9 if x.dtype == jnp.float64 else 5):
        term = term * v2
        total = total + term / (2 * j + 1)
    return jnp.where(jnp.abs(d) < 0.1 * s, total, direct)


def log_binomial_pmf(k: jax.Array, n: jax.Array, p: jax.Array) -> jax.Array:
    """log P(Binomial(n, p) = k), Loader's saddle-point form, for 0 <= k <= n, 0 < p < 1."""
    q = 1.0 - p
    interior = (
        stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, n * p) - bd0(n - k, n * q)
        - 0.5 * (math.log(2.0 * math.pi) + jnp.log(jnp.maximum(k, 1.0)) + jnp.log1p(-k / jnp.maximum(n, 1.0)))
    )
    at0 = n * jnp.log1p(-p)
    atn = n * jnp.log(p)
    return jnp.where(k == 0, at0, jnp.where(k == n, atn, interior))


def _btrs_constants(n, p):
    spq = jnp.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    m = jnp.floor((n + 1.0) * p)
    return a, b, c, v_r, alpha, log_binomial_pmf(m, n, p)


def _btrs_try(n, p, consts, u, v):
    """One BTRS proposal from uniforms (u, v); returns (k, accepted)."""
    a, b, c, v_r, alpha, log_pmf_mode = consts
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2.0 * a / us + b) * u + c)
    in_range = (k >= 0) & (k <= n)
    fast = (us >= 0.07) & (v <= v_r)
    kc = jnp.clip(k, 0.0, n)
    log_v = jnp.log(v * alpha / (a / (us * us) + b))
    return kc, in_range & (fast | (log_v <= log_binomial_pmf(kc, n, p) - log_pmf_mode))


def _inversion(n, p, u):
    """Sequential-search inversion from k = 0; for lanes with small mean. Ends for every lane."""
    q = 1.0 - p
    r = p / jnp.where(q > 0, q, 1.0)
    pmf0 = jnp.exp(n * jnp.log1p(-p))

    def cond(state):
        return ~jnp.all(state[-1])

    def body(state):
        k, pmf, cdf, done = state
        pmf_next = pmf * (n - k) / (k + 1.0) * r
        step = ~done
        k = jnp.where(step, k + 1.0, k)
        pmf = jnp.where(step, pmf_next, pmf)
        cdf = jnp.where(step, cdf + pmf_next, cdf)
        # Done when u is covered, the support ends, or float rounding left u above the summed mass.
        done = done | (u <= cdf) | (k >= n) | ((pmf == 0) & (k > n * p))
        return k, pmf, cdf, done

    done0 = (u <= pmf0) | (n == 0) | (p == 0)
    return lax.while_loop(cond, body, (jnp.zeros_like(p), pmf0, pmf0, done0))[0]


def _btrs(n, p, uniforms: LaneUniforms, u0, v0, todo):
    """BTRS for lanes ``todo`` (others return 0).

    The first try uses (u0, v0) for every lane. The lanes that reject (12-27% of them) are
    gathered once into a buffer half the batch and retried there until all accept, so retries
    cost in proportion to half the batch, not all of it. A per-lane attempt counter makes each
    lane consume its own uniform sequence in order; a masked loop over the whole batch finishes
    anything the buffer could not hold, so the result is always exact.
    """
    lanes = n.shape[0]
    nb = jnp.where(todo, n, 100.0)  # harmless constants for lanes BTRS does not serve
    pb = jnp.where(todo, p, 0.5)
    consts = _btrs_constants(nb, pb)
    k, ok = _btrs_try(nb, pb, consts, u0, v0)
    k = jnp.where(todo, k, 0.0)
    accepted = ok | ~todo

    def retry_until_accepted(k, accepted, index, live):
        sub = (nb[index], pb[index], tuple(c[index] for c in consts))

        def cond(state):
            return ~jnp.all(state[2])

        def body(state):
            attempt, sub_k, sub_done = state
            u, v = uniforms.pair(attempt, index)
            k_t, ok_t = _btrs_try(*sub, u, v)
            return attempt + 1, jnp.where(~sub_done & ok_t, k_t, sub_k), sub_done | ok_t

        state = (jnp.asarray(1, jnp.uint32), jnp.zeros_like(sub[0]), ~live)
        sub_k = lax.while_loop(cond, body, state)[1]
        # Padding slots hold the out-of-range index `lanes` (gathers clamp it; these scatters drop
        # it), so they never race a live lane 0 for its slot (a duplicate index writes either value).
        return k.at[index].set(sub_k, mode="drop"), accepted.at[index].max(live, mode="drop")

    def keep(k, accepted, index, live):
        return k, accepted

    buffer = min(lanes, lanes // 2 + 128)
    rejected = ~accepted
    index = jnp.nonzero(rejected, size=buffer, fill_value=lanes)[0]
    live = jnp.arange(buffer) < rejected.sum()
    k, accepted = lax.cond(jnp.any(rejected), retry_until_accepted, keep, k, accepted, index, live)
    overflow = ~accepted  # more rejections than the buffer held: astronomically rare, still exact
    k, _ = lax.cond(jnp.any(overflow), retry_until_accepted, keep, k, accepted, jnp.arange(lanes), overflow)
    return k


def binomial_lanes(n, p, uniforms: LaneUniforms):
    """Binomial(n, p) per lane: ``n`` integers, ``p`` floats in [0, 1]; returns counts of n's dtype."""
    fdt = p.dtype
    n_f = n.astype(fdt)
    flip = p > 0.5
    pp = jnp.where(flip, 1.0 - p, p)  # work with p <= 1/2; p = 1 becomes p = 0
    trivial = (n == 0) | (pp == 0)
    small = ~trivial & (n_f * pp < INVERSION_MEAN)
    large = ~trivial & ~small
    u0, v0 = uniforms.pair(0)
    # Whole tree levels are often all-small or all-large: skip the branch no lane needs.
    k_inv = lax.cond(
        jnp.any(small),
        lambda: _inversion(jnp.where(small, n_f, 0.0), jnp.where(small, pp, 0.0), u0),
        lambda: jnp.zeros_like(pp),
    )
    k_btrs = lax.cond(jnp.any(large), lambda: _btrs(n_f, pp, uniforms, u0, v0, large), lambda: jnp.zeros_like(pp))
    k = jnp.where(small, k_inv, jnp.where(large, k_btrs, 0.0)).astype(n.dtype)
    return jnp.where(flip, n - k, k)


def binomial(key: jax.Array, n, p, shape=None) -> jax.Array:
    """Exact Binomial(n, p) counts for ``n`` (integers) and ``p`` broadcast to ``shape``; element i's
    draw depends on ``key`` and its flat index i alone."""
    p = jnp.asarray(p)
    fdt = _float_dtype(p)
    shape = jnp.broadcast_shapes(jnp.shape(n), jnp.shape(p)) if shape is None else tuple(shape)
    n_L = jnp.broadcast_to(jnp.asarray(n, _int_dtype()), shape).reshape(-1)
    p_L = jnp.broadcast_to(p.astype(fdt), shape).reshape(-1)
    kd = jax.random.key_data(key).astype(jnp.uint32).reshape(-1)
    lanes = n_L.shape[0]
    uniforms = LaneUniforms(jnp.full(lanes, kd[0]), jnp.full(lanes, kd[-1]),
                            jnp.arange(lanes, dtype=jnp.uint32), fdt)
    return binomial_lanes(n_L, p_L, uniforms).reshape(shape)
