"""Multinomial counts by conditional binomial splits over categories."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from .binomial import _float_dtype, _int_dtype, binomial_lanes
from .threefry import LaneUniforms

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
