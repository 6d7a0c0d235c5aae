"""Exact discrete samplers that stay fast when batched over millions of lanes.

JAX's own ``binomial`` evaluates both of its algorithms for every lane and loops until the slowest
lane of the batch accepts; ``multinomial`` then calls it K times in sequence. Here:

- ``binomial`` uses inversion when the mean is small (n·min(p, 1-p) < 10) and Hörmann's BTRS
  otherwise; a batch skips the algorithm none of its lanes needs. After the first BTRS try, the
  lanes that rejected are compacted into a buffer half the batch and retried there. Every loop ends: lanes with p in {0, 1}
  or n = 0 are finished before the first iteration (the absorbed states of a collapsed chain).
- Uniforms come from a counter-based hash (Threefry-2x32) of (chain key, tree node, attempt), so
  every draw is addressable and no lane's randomness depends on the batch it sits in.
- ``multinomial`` draws conditional binomials, first over about sqrt(K) blocks of categories,
  then within all blocks at once (two ``lax.scan``s, each step batched over chains): about
  K + sqrt(K) binomials per chain, so its cost is O(K) and independent of n.
- ``multivariate_hypergeometric`` (drawing without replacement from a pool of counts) uses the
  same scan with exact hypergeometric splits.

Log-probabilities use Loader's saddle-point form (``stirlerr`` + ``bd0``), whose error is relative
to the size of the result, so float32 acceptance tests stay accurate for large n. Counts are
integers (int32, or int64 under x64). In float32, n above 2^24 has p rounded to float32 precision
(relative 6e-8); enable x64 for exact laws up to n = 2^31 - 1.

``multinomial(keys_C, ...)`` takes one key per row (chain); row c's draws depend on ``keys_C[c]``
alone, whatever the batch size.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

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


# ---------------------------------------------------------------------------------------------
# Counter-based uniforms: every draw is a pure function of (lane key, node, attempt)

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), elementwise with per-lane keys.

    Equal to ``jax.random.threefry_2x32`` for a scalar key; here keys broadcast like the counters,
    so each lane (chain, tree node, attempt) hashes its own counter under its own chain's key.
    """
    u32 = jnp.uint32
    k0, k1, x0, x1 = (jnp.asarray(a, u32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for r in range(20):
        rot = _ROTATIONS[r % 8]
        x0 = x0 + x1
        x1 = (x1 << u32(rot)) | (x1 >> u32(32 - rot))
        x1 = x1 ^ x0
        if r % 4 == 3:
            s = r // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + u32(s)
    return x0, x1


def bits_to_unit(bits, dtype):
    """uint32 -> uniform on the open interval (0, 1) (BTRS divides by 0.5 - |u - 0.5| and takes log v)."""
    if jnp.dtype(dtype) == jnp.float64:
        return (bits.astype(jnp.float64) + 0.5) * 2.0**-32
    return ((bits >> jnp.uint32(8)).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-24)


class LaneUniforms:
    """Uniform pairs for a batch of lanes, addressed by (key0, key1, node) per lane and the attempt."""

    def __init__(self, key0_L, key1_L, node_L, dtype):
        self.key0, self.key1, self.node, self.dtype = key0_L, key1_L, node_L, dtype

    def pair(self, attempt, index=None):
        k0, k1, node = (self.key0, self.key1, self.node) if index is None else (
            self.key0[index], self.key1[index], self.node[index])
        y0, y1 = threefry2x32(k0, k1, node, jnp.broadcast_to(jnp.asarray(attempt, jnp.uint32), node.shape))
        return bits_to_unit(y0, self.dtype), bits_to_unit(y1, self.dtype)


# ---------------------------------------------------------------------------------------------
# Binomial


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


# ---------------------------------------------------------------------------------------------
# Multinomial and multivariate hypergeometric by conditional splits over categories


def _scan_categories(kd_R2, node_base_R, total_R, mass_RxK, split_fn, fdt):
    """One conditional split per category, ``lax.scan``-ed over categories and batched over rows.

    Step k draws count_k = split_fn(n_left, mass_k, mass_after_k, uniforms) (Binomial(n_left,
    mass_k / (mass_k + mass_after)) with replacement, Hypergeometric without) and the last
    category takes what is left. Row r's step k draws from (kd_R2[r], node_base_R[r] + k) alone.
    """
    rows, categories = mass_RxK.shape
    # Mass strictly after each category, summed from the small end (accurate for long tails).
    after_RxK = jnp.maximum(jnp.flip(jnp.cumsum(jnp.flip(mass_RxK, -1), -1), -1) - mass_RxK, 0)

    def step(n_left, x):
        k, mass, after = x
        uniforms = LaneUniforms(kd_R2[:, 0], kd_R2[:, -1], node_base_R + k, fdt)
        count = jnp.where(k == categories - 1, n_left, split_fn(n_left, mass, after, uniforms))
        return n_left - count, count

    xs = (jnp.arange(categories, dtype=jnp.uint32), mass_RxK.T, after_RxK.T)
    return lax.scan(step, total_R, xs)[1].T


def _split_categories(keys_C, total_C, mass_CxK, split_fn, fdt):
    """Counts for K categories per chain, in two stages of about sqrt(K) sequential steps each.

    The categories are cut into B blocks of S (B·S >= K, zero-padded): a scan over the B blocks
    draws each block's count, then one scan over the S positions splits all blocks of all chains
    at once. That is B + S sequential steps instead of K, each over more lanes, and one compiled
    copy of each stage whatever K is. Node ids (block b: b; position s of block b: B + b·S + s)
    tie every draw to its chain key, so chain c's counts do not depend on how many chains run.
    """
    chains, categories = mass_CxK.shape
    kd = jax.random.key_data(keys_C).astype(jnp.uint32).reshape(chains, -1)
    block = max(1, math.isqrt(categories - 1) + 1) if categories > 16 else categories
    blocks = -(-categories // block)
    padded = jnp.pad(mass_CxK, ((0, 0), (0, blocks * block - categories))).reshape(chains, blocks, block)
    if blocks == 1:
        return _scan_categories(kd, jnp.zeros(chains, jnp.uint32), total_C, mass_CxK, split_fn, fdt)
    block_counts = _scan_categories(kd, jnp.zeros(chains, jnp.uint32), total_C, padded.sum(-1), split_fn, fdt)
    kd_rows = jnp.repeat(kd, blocks, axis=0)
    base = jnp.tile(jnp.arange(blocks, dtype=jnp.uint32) * block + blocks, chains)
    counts = _scan_categories(kd_rows, base, block_counts.reshape(-1), padded.reshape(chains * blocks, block),
                              split_fn, fdt)
    return counts.reshape(chains, blocks * block)[:, :categories]


def _binomial_split(n, mass, after, uniforms):
    total = mass + after
    p = jnp.where(total > 0, mass / jnp.where(total > 0, total, 1.0), 0.0)
    return binomial_lanes(n, jnp.clip(p, 0.0, 1.0), uniforms)


def multinomial(keys_C: jax.Array, n_C, p_CxK: jax.Array) -> jax.Array:
    """Counts ~ Multinomial(n_c, p_c) for each row c; O(K) work per row, independent of n.

    ``p_CxK`` rows need not be normalised (they are used as relative masses).
    """
    p_CxK = jnp.asarray(p_CxK)
    fdt = _float_dtype(p_CxK)
    n_C = jnp.broadcast_to(jnp.asarray(n_C, _int_dtype()), p_CxK.shape[:1])
    return _split_categories(keys_C, n_C, jnp.maximum(p_CxK.astype(fdt), 0), _binomial_split, fdt)


# ---------------------------------------------------------------------------------------------
# Hypergeometric (drawing without replacement), for the accumulate-subsample workflow


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
