"""Exact Binomial(n, p) per lane: fixed-length inversion for small means, BTRS (Hörmann 1993) otherwise.

The unit of work is one *trip* of a lane: given (n, p) and the 64 bits Threefry gives for the lane's
(node, attempt), :func:`binomial_trip` either returns the count or, for a BTRS lane whose proposal
was rejected, says so; the caller then calls again with the next attempt. A rejection sampler's
number of trials is independent of the value it accepts, so retrying in a later trip (instead of a
loop inside this one) leaves the law exact.

- **Inversion** (mean n·min(p, 1−p) ≤ ``inv_mean``): the first ``inv_terms`` pmf values by the
  ratio recurrence pmf(j+1) = pmf(j)·(n−j)/(j+1)·p/(1−p), unrolled so XLA fuses it into one
  kernel; x = #{j : F(j) < u}. A lane whose u lies beyond that partial CDF (probability below
  1e-7 at the defaults) continues the *same* search with the *same* u in a loop that only runs
  when some lane needs it.
- **BTRS** (larger means): the acceptance ratio f(k)/f(m) is evaluated in terms of the integer
  offset δ = k − m from the mode, with log1p/“log1p(t) − t” forms whose error is relative to the
  result, so float32 stays accurate for n up to 2³¹−1 and the returned count is an exact integer.
  The Stirling correction is a chain of selects (no table gather), so the kernel vectorises.

``p > 1/2`` is handled by drawing n − Bin(n, 1−p). Counts are integers of n's dtype.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .threefry import bits_to_unit, fine_unit, key_words, threefry2x32


class Tuning(NamedTuple):
    """Static knobs of the exact samplers (hashable: a jit static argument). The defaults are the
    fast ones on a CPU; tests lower them to force the rare paths (a short fused inversion so the
    sequential search runs, compaction into tiny buffers, a tiny attempt cap)."""

    inv_terms: int = 48  # T: pmf terms summed in the fused inversion pass
    inv_mean: float = 20.0  # lanes with n·min(p, 1-p) <= inv_mean use inversion, the rest BTRS (needs >= 10)
    tail_cap: int = 1 << 20  # bound on the sequential tail search (pmf underflows long before)
    max_attempts: int = 1 << 12  # BTRS guard: P(reaching it) < 0.5^4096; then the proposal is kept
    compaction: int = 4  # the multinomial's lanes move to a buffer 1/compaction the size ...
    min_buffer: int = 256  # ... unless that would be smaller than this
    btrs_cond: bool = False  # skip BTRS (lax.cond) in trips where no lane needs it: faster in
    # the first generations of a uniform start, slower later, and more kernels to compile
    inv_cond: bool = False  # skip the fused inversion (lax.cond) in trips where no lane needs it
    scan_over_categories: bool | None = None  # per-generation pass: lax.scan (CPU) or associative
    # scans (accelerators); None chooses by backend (multinomial.sequential_over_categories)


DEFAULT = Tuning()
_LOG_2PI = math.log(2.0 * math.pi)
# log(n!) − log(sqrt(2πn)(n/e)^n), n = 0..15 (Loader 2000); n = 0 only appears where it is unused.
_STIRLERR_SMALL = (
    0.0, 0.0810614667953272582196702, 0.0413406959554092940938221, 0.02767792568499833914878929,
    0.02079067210376509311152277, 0.01664469118982119216319487, 0.01387612882307074799874573,
    0.01189670994589177009505572, 0.010411265261972096497478567, 0.009255462182712732917728637,
    0.008330563433362871256469318, 0.007573675487951840794972024, 0.006942840107209529865664152,
    0.006408994188004207068439631, 0.005951370112758847735624416, 0.005554733551962801371038690,
)


def float_dtype(p) -> jnp.dtype:
    dt = jnp.result_type(p)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)


def int_dtype():
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def recip(x: jax.Array) -> jax.Array:
    """1/x for positive normal x by Newton's iteration from a bit-trick guess (about 1 ulp). Made of
    multiplies and adds only, which XLA fuses freely; a divide whose result feeds several users
    becomes a separate kernel on XLA:CPU (and a separately compiled one)."""
    if x.dtype == jnp.float64:
        guess = lax.bitcast_convert_type(jnp.uint64(0x7FDE623822FC16E6) - lax.bitcast_convert_type(x, jnp.uint64), x.dtype)
        steps = 5
    else:
        guess = lax.bitcast_convert_type(jnp.uint32(0x7EF311C3) - lax.bitcast_convert_type(x, jnp.uint32), x.dtype)
        steps = 3
    y = guess
    for _ in range(steps):
        y = y * (2.0 - x * y)
    return y


def stirlerr(n: jax.Array) -> jax.Array:
    """log(n!) − log(sqrt(2πn)(n/e)^n) for integer-valued n ≥ 0: exact values up to 15 picked by a
    chain of selects (a gather would stop XLA:CPU from vectorising the fused kernel), the Stirling
    series beyond."""
    n = jnp.asarray(n)
    inv = recip(jnp.maximum(n, 1.0))
    inv2 = inv * inv
    out = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188)))) * inv
    for j in range(15, -1, -1):
        out = jnp.where(n <= j + 0.5, jnp.asarray(_STIRLERR_SMALL[j], n.dtype), out)
    return out


def bd0(x: jax.Array, np_: jax.Array) -> jax.Array:
    """x log(x / np) + np − x, computed without cancellation when x is close to np."""
    d = x - np_
    s = x + np_
    v = d / jnp.where(s > 0, s, 1.0)
    direct = x * jnp.log(jnp.where(x > 0, x, 1.0) / jnp.where(np_ > 0, np_, 1.0)) + np_ - x
    # Series in v = (x − np)/(x + np): bd0 = d v + 2 x Σ_j v^(2j+1)/(2j+1), |v| < 0.1 here.
    total = d * v
    term = 2.0 * x * v
    v2 = v * v
    for j in range(1, 9 if x.dtype == jnp.float64 else 5):
        term = term * v2
        total = total + term / (2 * j + 1)
    return jnp.where(jnp.abs(d) < 0.1 * s, total, direct)


def log_binomial_pmf(k: jax.Array, n: jax.Array, p: jax.Array) -> jax.Array:
    """log P(Binomial(n, p) = k), Loader's saddle-point form, for 0 ≤ k ≤ n, 0 < p < 1."""
    q = 1.0 - p
    interior = (
        stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, n * p) - bd0(n - k, n * q)
        - 0.5 * (_LOG_2PI + jnp.log(jnp.maximum(k, 1.0)) + jnp.log1p(-k / jnp.maximum(n, 1.0)))
    )
    at0 = n * jnp.log1p(-p)
    atn = n * jnp.log(p)
    return jnp.where(k == 0, at0, jnp.where(k == n, atn, interior))


def _log1p_series(t):
    """(log(1+t) − t) for |t| < 1/4 by the series in v = t/(2+t) (log(1+t) = 2 atanh v)."""
    v = t * recip(2.0 + t)
    v2 = v * v
    terms = 11 if t.dtype == jnp.float64 else 6
    poly = jnp.full_like(v, 1.0 / (2 * terms + 1))
    for j in range(terms - 1, 0, -1):
        poly = 1.0 / (2 * j + 1) + v2 * poly
    return -t * v + 2.0 * v * v2 * poly  # 2v − t = −t v


def log1p_combo(t, num, den, w_mx, w_log):
    """w_mx·(log(1+t) − t) + w_log·log(1+t) for t = num/den − 1 > −1, with error relative to each
    part: the series for |t| < 1/4, log(num/den) beyond (so t close to −1, num ≪ den, never
    rounds to log 0). One log, used once (so XLA fuses it)."""
    small = jnp.abs(t) < 0.25
    ts = jnp.where(small, t, 0.0)
    mx = _log1p_series(ts)
    direct = (w_mx + w_log) * jnp.log(jnp.where(small, 1.0, num * recip(den))) - w_mx * t
    return jnp.where(small, (w_mx + w_log) * mx + w_log * ts, direct)


# ---------------------------------------------------------------------------------------------
# Inversion


def inversion(nf, pp, u, terms: int):
    """x = #{j < terms : F(j) < u} for Binomial(nf, pp), pp ≤ 1/2, in one fused pass.

    Sums relative to pmf(0): S_j = Σ_{i≤j} pmf(i)/pmf(0) by the ratio recurrence
    pmf(j+1)/pmf(j) = (n − j)/(j+1)·p/(1−p), against the target u/pmf(0) = u·(1−p)^(−n) (at most
    e^(1.39 μ), finite for the means inversion serves). Also returns the last ratio term, S and the
    target; a lane with S < target after the last term redoes the search in
    :func:`inversion_sequential`."""
    r = pp * recip(1.0 - pp)
    target = u * jnp.exp(-nf * jnp.log1p(-pp))
    rel = jnp.ones_like(pp)
    total = rel
    one, zero = jnp.ones_like(pp), jnp.zeros_like(pp)
    x = jnp.where(total < target, one, zero)
    nr = nf * r
    for j in range(terms - 1):
        # ratio (n − j)·r/(j+1); (n − j) = 0 at j = n ends the support exactly
        rel = rel * ((nr - j * r) * (1.0 / (j + 1)))
        total = total + rel
        x = x + jnp.where(total < target, one, zero)
    return x, rel, total, target


def inversion_sequential(nf, pp, target, lanes, cap: int):
    """The same search as :func:`inversion`, one term per loop trip and without a length limit, for
    ``lanes`` (the rare ones whose u lies beyond the fused pass): the smallest j with S_j ≥ target,
    or the end of the support, or where past the mean the terms no longer change S (float
    rounding left the target above the summed mass). Returns x as a float per lane."""
    r = pp * recip(1.0 - pp)
    mean = nf * pp

    def cond(s):
        return jnp.any(s[3]) & (s[4] < cap)

    def body(s):
        j, rel, total, go, it = s
        j1 = j + 1.0
        rel1 = rel * ((nf - j) * r / j1)
        total1 = total + rel1
        stalled = (total1 == total) & (j1 > mean)
        j = jnp.where(go, j1, j)
        rel = jnp.where(go, rel1, rel)
        total = jnp.where(go, total1, total)
        go = go & (total < target) & (j < nf) & ~stalled
        return j, rel, total, go, it + 1

    one = jnp.ones_like(pp)
    go = lanes & (one < target) & (nf > 0)
    return lax.while_loop(cond, body, (jnp.zeros_like(pp), one, one, go, jnp.int32(0)))[0]


# ---------------------------------------------------------------------------------------------
# pmf ratios in terms of an integer offset, and BTRS


class RatioRef(NamedTuple):
    """A reference point 0 < m < n of Binomial(n, p) for :func:`log_ratio_from`."""

    m: jax.Array  # integer dtype
    mf: jax.Array
    nmf: jax.Array  # n − m as a float
    c0: jax.Array  # m − n p
    st_m: jax.Array  # stirlerr(m) + stirlerr(n − m)


def ratio_ref(n, nf, p, m) -> RatioRef:
    mf = m.astype(p.dtype)
    nmf = (n - m).astype(p.dtype)
    return RatioRef(m, mf, nmf, mf - nf * p, stirlerr(mf) + stirlerr(nmf))


def log_ratio_from(k, n, p, r: RatioRef):
    """log f(k) − log f(m) for 0 < k < n (f the Binomial(n, p) pmf, m = ``r.m``), from Loader's
    form with every term written in the integer offset δ = k − m:

        −[σ(k) + σ(n−k) − σ(m) − σ(n−m)] − m·L(δ/m) − (n−m)·L(−δ/(n−m))
        − δ·log1p((δ + m − np)/((n−k)p)) − ½[log1p(δ/m) + log1p(−δ/(n−m))],

    σ = stirlerr, L(t) = log(1+t) − t (:func:`log1p_combo`). No term cancels catastrophically, and the only rounding
    that grows with n (m − np) is the same for every k, i.e. a rounding of p itself; δ is exact,
    so float32 keeps the law's shape for n up to 2³¹−1."""
    fdt = p.dtype
    delta = (k - r.m).astype(fdt)
    kf = k.astype(fdt)
    nkf = (n - k).astype(fdt)
    inv_m = recip(r.mf)
    inv_nm = recip(r.nmf)
    inv_nkp = recip(nkf * p)
    # m·L(t1) + ½ log(1+t1), (n−m)·L(t2) + ½ log(1+t2), δ·log(1 + (k − np)/((n−k)p)) = δ·log(kq/((n−k)p))
    part1 = log1p_combo(delta * inv_m, kf, r.mf, r.mf, 0.5)
    part2 = log1p_combo(-delta * inv_nm, nkf, r.nmf, r.nmf, 0.5)
    part3 = log1p_combo((delta + r.c0) * inv_nkp, kf * (1.0 - p), nkf * p, 0.0, delta)
    return -(part1 + part2 + part3 + stirlerr(kf) + stirlerr(nkf) - r.st_m)


def _edge_factor(k, n, nf, p):
    """f(k)/f(k') with k' = k clipped to [1, n−1]: f(0) = f(1)·q/(np), f(n) = f(n−1)·p/(nq)."""
    q = 1.0 - p
    return jnp.where(k <= 0, q * recip(nf * p), jnp.where(k >= n, p * recip(nf * q), 1.0))


def binom_log_ratio(k, m, n, p):
    """log f(k) − log f(m) for Binomial(n, p), any integers 0 ≤ k, m ≤ n and 0 < p < 1 (per
    lane). Used by the hypergeometric sampler; BTRS uses the same pieces with its own mode."""
    fdt = p.dtype
    two = n >= 2
    n2 = jnp.where(two, n, 2)
    nf = n2.astype(fdt)
    mc = jnp.clip(m, 1, n2 - 1)
    kc = jnp.clip(k, 1, n2 - 1)
    core = log_ratio_from(kc, n2, p, ratio_ref(n2, nf, p, mc))
    core = core + jnp.log(_edge_factor(k, n2, nf, p) / _edge_factor(m, n2, nf, p))
    # n = 1: f(0) = q, f(1) = p; n = 0: k = m = 0.
    tiny = jnp.where(n == 1, jnp.log(jnp.where(k >= 1, p, 1.0 - p) / jnp.where(m >= 1, p, 1.0 - p)), 0.0)
    return jnp.where(two, core, tiny)


class BtrsConsts(NamedTuple):
    a: jax.Array
    b: jax.Array
    v_r: jax.Array
    alpha: jax.Array
    c_off: jax.Array  # c − m = n p + 1/2 − m
    ref: RatioRef  # the mode m


def btrs_consts(n, nf, pp) -> BtrsConsts:
    """Hörmann's BTRS constants for lanes with pp ≤ 1/2 and n·pp ≥ 10."""
    qq = 1.0 - pp
    b = 1.15 + 2.53 * jnp.sqrt(nf * pp * qq)
    inv_b = recip(b)
    a = -0.0873 + 0.0248 * b + 0.01 * pp
    v_r = 0.92 - 4.2 * inv_b
    alpha = (2.83 + 5.1 * inv_b) * ((b - 1.15) * (1 / 2.53))  # (2.83 + 5.1/b)·sqrt(npq)
    m = jnp.clip(jnp.floor((nf + 1.0) * pp).astype(n.dtype), 1, jnp.maximum(n - 1, 1))
    ref = ratio_ref(n, nf, pp, m)
    return BtrsConsts(a, b, v_r, alpha, 0.5 - ref.c0, ref)


def btrs_attempt(n, nf, pp, u, v, lanes):
    """One BTRS proposal per lane from uniforms (u, v): ``(k, accepted)``. Lanes outside ``lanes``
    get harmless parameters and a meaningless result.

    The proposal is formed as an integer offset from the mode, so k is exact for any n; the test
    compares log(v·α/(a/us² + b)) with log f(k) − log f(m) (:func:`log_ratio_from`; at the edges of
    the support :func:`_edge_factor`), all in one fused computation."""
    n = jnp.where(lanes, n, 100)
    nf = jnp.where(lanes, nf, 100.0)
    pp = jnp.where(lanes, pp, 0.25)
    c = btrs_consts(n, nf, pp)
    uu = u - 0.5
    us = 0.5 - jnp.abs(uu)
    # δ = floor((2a/us + b)·uu + c − m), clipped before the integer cast (far tails are rejected).
    inv_us = recip(us)
    delta = jnp.floor((2.0 * c.a * inv_us + c.b) * uu + c.c_off)
    in_range = (delta >= -c.ref.mf) & (delta <= c.ref.nmf)
    k = jnp.clip(c.ref.m + jnp.clip(delta, -c.ref.mf, c.ref.nmf).astype(n.dtype), 0, n)
    fast = (us >= 0.07) & (v <= c.v_r)
    lhs = jnp.log(v * c.alpha * recip(c.a * inv_us * inv_us + c.b))
    rhs = log_ratio_from(jnp.clip(k, 1, n - 1), n, pp, c.ref) + jnp.log(_edge_factor(k, n, nf, pp))
    return k, in_range & (fast | (lhs <= rhs))


# ---------------------------------------------------------------------------------------------
# One trip of a lane

REJECTED = -1  # a BTRS proposal was rejected: call again with the next attempt
_TAIL = -2  # internal: the lane's u lies beyond the fused inversion's partial sum


def binomial_trip(n, s, k0, k1, node, attempt, active, tuning: Tuning = DEFAULT):
    """One trip of the per-lane binomial: ``n`` integer counts, ``s`` the signed success
    probability (|s| ≤ 1/2; a set sign bit means the lane returns n − Bin(n, |s|), so p > 1/2 is
    drawn as its complement and p = 1 is −0.0). The uniforms are the Threefry-2x32 words of
    (``node``, ``attempt``) under the lane's key words (``k0``, ``k1``).

    Returns the count, or ``REJECTED`` (−1) for a BTRS lane whose proposal was rejected: call again
    with ``attempt + 1``. Inversion lanes always finish. The rare inversion tail runs behind a
    ``lax.cond`` that only executes when some lane of the batch needs it; BTRS is skipped the same
    way in trips where no lane needs it (``tuning.btrs_cond``)."""

    fdt = s.dtype
    pp = jnp.abs(s)
    nf = n.astype(fdt)
    small = nf * pp <= tuning.inv_mean

    y0, y1 = threefry2x32(k0, k1, node, attempt)
    # Inversion on harmless parameters for BTRS lanes, BTRS on harmless ones for inversion lanes.
    n_inv = jnp.where(small, nf, 0.0)
    p_inv = jnp.where(small, pp, 0.0)

    def fused_inversion():
        x_inv, _, total, target = inversion(n_inv, p_inv, fine_unit(y0, y1, fdt), tuning.inv_terms)
        return x_inv, (total < target) & (n_inv > tuning.inv_terms - 1)

    if tuning.inv_cond:
        x_inv, tail = lax.cond(jnp.any(active & small), fused_inversion,
                               lambda: (jnp.zeros_like(pp), jnp.zeros(pp.shape, bool)))
    else:
        x_inv, tail = fused_inversion()
    big = active & ~small

    def btrs():
        return btrs_attempt(n, nf, pp, bits_to_unit(y0, fdt), bits_to_unit(y1, fdt), big)

    if tuning.btrs_cond:
        k_b, ok_b = lax.cond(jnp.any(big), btrs, lambda: (jnp.zeros_like(n), jnp.zeros(n.shape, bool)))
    else:
        k_b, ok_b = btrs()
    ok_b = ok_b | (attempt >= tuning.max_attempts - 1)  # the guard: never reached in practice
    x = jnp.where(small, jnp.minimum(x_inv, n_inv).astype(n.dtype), jnp.where(ok_b, k_b, REJECTED))
    x = jnp.where(active & small & tail, _TAIL, x)

    def resolve(x):
        # Rare: redo these lanes' search one term at a time with the same uniform (recomputed
        # from the trip's inputs, so the fused kernel carries nothing extra out of every trip).
        y0, y1 = threefry2x32(k0, k1, node, attempt)
        n_inv = jnp.where(small, nf, 0.0)
        p_inv = jnp.where(small, pp, 0.0)
        target = fine_unit(y0, y1, fdt) * jnp.exp(-n_inv * jnp.log1p(-p_inv))
        lanes = x == _TAIL
        x_tail = inversion_sequential(n_inv, p_inv, target, lanes, tuning.tail_cap)
        return jnp.where(lanes, jnp.minimum(x_tail, n_inv).astype(n.dtype), x)

    x = lax.cond(jnp.any(x == _TAIL), resolve, lambda x: x, x)
    return jnp.where(jnp.signbit(s) & (x >= 0), n - x, x)


def signed_p(p):
    """The signed probability :func:`binomial_trip` takes: p if p ≤ 1/2, else −(1 − p) (the sign
    bit marks the flip, so p = 1 is −0.0)."""
    return jnp.where(p > 0.5, -(1.0 - p), p)


@partial(jax.jit, static_argnames=("shape", "tuning"))
def binomial(key: jax.Array, n, p, shape=None, tuning: Tuning = DEFAULT) -> jax.Array:
    """Exact Binomial(n, p) counts for ``n`` (integers) and ``p`` broadcast to ``shape``; element
    i's draw depends on ``key`` and its flat index i alone (Threefry of (key, i, attempt))."""
    p = jnp.asarray(p)
    fdt = float_dtype(p)
    shape = jnp.broadcast_shapes(jnp.shape(n), jnp.shape(p)) if shape is None else tuple(shape)
    n_L = jnp.broadcast_to(jnp.asarray(n, int_dtype()), shape).reshape(-1)
    p_L = jnp.broadcast_to(p.astype(fdt), shape).reshape(-1)
    p_L = jnp.where(jnp.isfinite(p_L), jnp.clip(p_L, 0.0, 1.0), 0.0)
    k0, k1 = key_words(key)
    node = jnp.arange(n_L.shape[0], dtype=jnp.uint32)
    return _binomial_lanes(k0, k1, node, n_L, signed_p(p_L), tuning).reshape(shape)


@partial(jax.jit, static_argnames=("tuning",))
def binomial_keyed(keys_L: jax.Array, n_L, p_L, tuning: Tuning = DEFAULT) -> jax.Array:
    """One exact Binomial(n_l, p_l) count per lane l, under the lane's own key ``keys_L[l]`` (node
    0): lane l's draw depends on its key, n and p alone. ``p_L``'s dtype sets the arithmetic;
    counts have ``n_L``'s integer dtype."""
    p_L = jnp.asarray(p_L)
    n_L = jnp.broadcast_to(jnp.asarray(n_L), p_L.shape)
    if not jnp.issubdtype(n_L.dtype, jnp.integer):
        n_L = n_L.astype(int_dtype())
    p_L = jnp.where(jnp.isfinite(p_L), jnp.clip(p_L, 0.0, 1.0), 0.0)
    k0, k1 = key_words(keys_L)
    node = jnp.zeros(p_L.shape, jnp.uint32)
    return _binomial_lanes(k0, k1, node, n_L, signed_p(p_L), tuning)


def _binomial_lanes(k0, k1, node, n, s, tuning: Tuning):
    """Binomial draws for independent lanes, each retrying until accepted (attempt a uses the
    Threefry words of (node, a))."""
    def cond(st):
        return jnp.any(~st[2])

    def body(st):
        x, attempt, done = st
        x_new = binomial_trip(n, s, k0, k1, node, attempt, ~done, tuning)
        ok = x_new >= 0
        take = ~done & ok
        return jnp.where(take, x_new, x), jnp.where(done | ok, attempt, attempt + 1), done | ok

    done0 = n <= 0
    x0 = jnp.zeros_like(n)
    return lax.while_loop(cond, body, (x0, jnp.zeros(n.shape, jnp.uint32), done0))[0]
