"""Multinomial counts on the [K, C] layout (categories × chains) by conditional binomial splits
that visit only the alive categories of each chain.

One reverse pass over the categories gives, for every (category k, chain c), the mass after k and
the next category with positive mass. Then every chain is one lane of a state machine in a single
``while_loop``: a lane holds (current category, samples left, attempt); each trip it reads its
category's conditional probability p_k / (p_k + mass after k), draws one binomial trip
(:func:`.binomial.binomial_trip`), writes the count and jumps to its next alive category. The
last alive category takes what is left, and a chain with no samples left stops. Trips per call
are the largest number of alive categories of any chain (plus BTRS retries), not K times an
inversion depth, and dead categories cost nothing.

Randomness: lane c's trip for category k, attempt a hashes (k, a) under chain c's key
(Threefry-2x32), so a chain's counts depend on its key and its probabilities alone — never on
how many chains run beside it, where they sit in a buffer, or how many trips the batch needed.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .binomial import DEFAULT, Tuning, binomial_trip, float_dtype, int_dtype
from .threefry import key_words


def alive_pass(mass_KxC: jax.Array, tuning: Tuning = DEFAULT):
    """Per (category k, chain c): ``after_KxC`` (mass strictly after k, summed from the small end so
    long tails stay accurate), ``code_KxC`` (the next category j > k with positive mass, written
    −(j+1) when j is the chain's last one and K when there is none); per chain ``first_C`` (the
    first category with positive mass, K if none) and ``alive_C`` (how many have mass).

    Two equivalent implementations, chosen by :func:`sequential_over_categories`: one
    ``lax.scan`` from the last category (cheapest on a CPU: K small steps, no K-wide temporaries)
    or associative scans (log K wide steps: what suits an accelerator)."""
    if sequential_over_categories(tuning):
        return _alive_pass_scan(mass_KxC)
    return _alive_pass_associative(mass_KxC)


def sequential_over_categories(tuning: Tuning = DEFAULT) -> bool:
    """THE backend switch of the samplers: a sequential ``lax.scan`` over categories on a CPU,
    associative scans elsewhere (``tuning.scan_over_categories`` forces either; tests run both)."""
    if tuning.scan_over_categories is not None:
        return bool(tuning.scan_over_categories)
    return jax.default_backend() == "cpu"


def _alive_pass_scan(mass_KxC):
    K, C = mass_KxC.shape

    def body(carry, x):
        after, nxt, nxt_last, count = carry
        k, q = x
        code = jnp.where(nxt_last, -(nxt + 1), nxt)
        alive = q > 0
        carry = (after + q, jnp.where(alive, k, nxt), jnp.where(alive, nxt >= K, nxt_last),
                 count + alive.astype(jnp.int32))
        return carry, (after, code)

    zeros_i = jnp.zeros((C,), jnp.int32)
    init = (jnp.zeros((C,), mass_KxC.dtype), zeros_i + K, jnp.zeros((C,), bool), zeros_i)
    (_, first, _, count), (after, code) = lax.scan(body, init, (jnp.arange(K, dtype=jnp.int32), mass_KxC),
                                                   reverse=True)
    return after, code, first, count


def _alive_pass_associative(mass_KxC):
    K, C = mass_KxC.shape
    alive = mass_KxC > 0
    k = jnp.arange(K, dtype=jnp.int32)[:, None]
    # inclusive suffix sums / minima, then shifted by one category: "strictly after k"
    suffix = lax.associative_scan(jnp.add, mass_KxC, reverse=True, axis=0)
    after = jnp.concatenate([suffix[1:], jnp.zeros((1, C), mass_KxC.dtype)])
    next_incl = lax.associative_scan(jnp.minimum, jnp.where(alive, k, K), reverse=True, axis=0)
    nxt = jnp.concatenate([next_incl[1:], jnp.full((1, C), K, jnp.int32)])
    last = jnp.max(jnp.where(alive, k, -1), axis=0)
    code = jnp.where((nxt < K) & (nxt == last), -(nxt + 1), nxt)
    return after, code, next_incl[0], jnp.sum(alive.astype(jnp.int32), axis=0)


def conditional_signed_p(mass_KxC, after_KxC):
    """p_k / (p_k + after_k) in the signed form :func:`binomial_trip` takes; computed from the
    smaller of the two masses so p close to 1 keeps its precision in 1 − p."""
    total = mass_KxC + after_KxC
    safe = jnp.where(total > 0, total, 1.0)
    return jnp.where(mass_KxC > after_KxC, -(after_KxC / safe), mass_KxC / safe)


class _Lanes(NamedTuple):
    c: jax.Array  # the chain a lane works on (C: none)
    k: jax.Array  # its current category
    n_left: jax.Array  # samples not yet given to a category
    attempt: jax.Array  # rejection-sampler attempt at this category
    k0: jax.Array  # the chain's key words
    k1: jax.Array


def _trips(lanes: _Lanes, out, tables, code_flat, split, C: int, K: int, until: int):
    """Trips of the lane state machine until at most ``until`` lanes are still working."""
    oob = K * C

    def working(ln):
        return ln.c < C

    def cond(st):
        return jnp.sum(working(st[0]).astype(jnp.int32)) > until

    def body(st):
        ln, out = st
        live = working(ln)
        idx = jnp.where(live, ln.k * C + ln.c, 0)
        values = tuple(t.at[idx].get(mode="promise_in_bounds") for t in tables)
        code = code_flat.at[idx].get(mode="promise_in_bounds")
        x = split(ln.n_left, values, ln.k0, ln.k1, ln.k.astype(jnp.uint32), ln.attempt, live)
        done = live & (x >= 0)
        n_left = ln.n_left - jnp.where(done, x, 0)
        # code < 0: the next alive category is the chain's last, which takes what is left now.
        to_last = done & (code < 0)
        last = -code - 1
        index = jnp.concatenate([jnp.where(done, idx, oob), jnp.where(to_last, last * C + ln.c, oob)])
        out = out.at[index].set(jnp.concatenate([x, n_left]), mode="drop", unique_indices=True)
        finished = done & ((code < 0) | (n_left <= 0))
        ln = _Lanes(jnp.where(finished, C, ln.c), jnp.where(done, code, ln.k), n_left,
                    jnp.where(live & ~done, ln.attempt + 1, 0).astype(jnp.uint32), ln.k0, ln.k1)
        return ln, out

    return lax.while_loop(cond, body, (lanes, out))


def split_categories(keys_C, n_C, tables, code_KxC, first_C, alive_C, split, tuning: Tuning):
    """Counts_KxC from conditional splits that visit each chain's alive categories in order.

    ``tables`` are (K, C) arrays; ``split(n_left, values, k0, k1, node, attempt, live)`` gets each
    lane's samples left, the tables' values at its (category, chain), its chain's key words, the
    category as the Threefry node and the attempt, and returns the count given to the category or
    ``REJECTED`` (then it is called again with the next attempt). ``code_KxC``, ``first_C``,
    ``alive_C`` come from :func:`alive_pass`. A chain with one alive category gets all n there
    without a trip; a chain's last alive category takes what is left in the trip that splits its
    second-to-last one.

    The chains start as one lane each; when at most 1/``tuning.compaction`` of the lanes are still
    working, those are gathered into a buffer that size (one compaction: two compiled copies of the
    trip) and finish there. Lane state moves with the lane, so nothing a chain draws depends on
    the buffer it runs in."""
    K, C = code_KxC.shape
    k0_C, k1_C = key_words(keys_C)
    chain = jnp.arange(C, dtype=jnp.int32)
    single = (alive_C == 1) & (n_C > 0)
    out = jnp.zeros((K * C,), n_C.dtype)
    out = out.at[jnp.where(single, first_C * C + chain, K * C)].set(n_C, mode="drop", unique_indices=True)
    start = (alive_C > 1) & (n_C > 0)
    lanes = _Lanes(jnp.where(start, chain, C), first_C, n_C, jnp.zeros((C,), jnp.uint32), k0_C, k1_C)
    tables = tuple(t.reshape(-1) for t in tables)
    code_flat = code_KxC.reshape(-1)
    small = max(tuning.min_buffer, -(-C // tuning.compaction))
    if small >= C:
        return _trips(lanes, out, tables, code_flat, split, C, K, 0)[1].reshape(K, C)
    lanes, out = _trips(lanes, out, tables, code_flat, split, C, K, small)
    # The working lanes (fewer than ``small`` now) to the front, in order: one sort, whatever C is.
    order = jnp.arange(C, dtype=jnp.int32)
    keep = lax.sort(jnp.where(lanes.c < C, order, order + C))[:small] % C
    lanes = jax.tree.map(lambda a: a[keep], lanes)
    return _trips(lanes, out, tables, code_flat, split, C, K, 0)[1].reshape(K, C)


@partial(jax.jit, static_argnames=("tuning",))
def multinomial_KC(keys_C: jax.Array, n_C, p_KxC: jax.Array, tuning: Tuning = DEFAULT) -> jax.Array:
    """Counts_KxC ~ Multinomial(n_c, p_c) for every chain c (column). ``p_KxC`` columns are
    relative masses (need not sum to 1; negative or non-finite entries count as 0); ``n_C`` a
    scalar or per-chain integers. Counts are int32, or int64 under ``jax.enable_x64``.

    Column c depends on ``keys_C[c]``, ``n_C[c]`` and ``p_KxC[:, c]`` alone. A column with no
    positive mass gets zero counts."""
    p_KxC = jnp.asarray(p_KxC)
    fdt = float_dtype(p_KxC)
    K, C = p_KxC.shape
    mass = p_KxC.astype(fdt)
    mass = jnp.where(jnp.isfinite(mass) & (mass > 0), mass, 0.0)
    n_C = jnp.maximum(jnp.broadcast_to(jnp.asarray(n_C, int_dtype()), (C,)), 0)
    after, code, first, alive = alive_pass(mass, tuning)
    s = conditional_signed_p(mass, after)

    def split(n_left, values, k0, k1, node, attempt, live):
        return binomial_trip(n_left, values[0], k0, k1, node, attempt, live, tuning)

    return split_categories(keys_C, n_C, (s,), code, first, alive, split, tuning)


@partial(jax.jit, static_argnames=("tuning",))
def multinomial(keys_C: jax.Array, n_C, p_CxK: jax.Array, tuning: Tuning = DEFAULT) -> jax.Array:
    """Counts_CxK ~ Multinomial(n_c, p_c) for each row c (the [C, K] view of
    :func:`multinomial_KC`; same draws)."""
    return multinomial_KC(keys_C, n_C, jnp.asarray(p_CxK).T, tuning).T
