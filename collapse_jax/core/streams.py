"""Addressable random streams: every random number has an address, never a position in a batch.

A run's root key comes from its seed (any integer in [0, 2^64)). Chain c of a run uses
``fold_in(root, c)`` and its generation t ``fold_in(chain key, t)``, so chain 17 follows the same
path with 100 or 10^6 chains, with ``first_chain`` slices, in one block or many, on 1 or 8 devices.
Draws that belong to no chain (held-out reference data, figure samples) use a *named stream*:
``stream(key, name)`` folds in a salt registered here, once, so no two uses collide by accident.

Keys are Threefry-2x32 whatever JAX's default PRNG implementation is: the numbers of a seed do not
change with a user's configuration.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .errors import InputError, as_int

IMPL = "threefry2x32"
MAX_SEED = 2**64 - 1  # the root key holds 64 bits: seeds up to here are all told apart
MAX_CHAINS = 2**32  # chain indices are folded in as 32-bit words
MAX_GENERATIONS = 2**31 - 1

# Salts of the named streams: values fixed forever (changing one changes published numbers).
SALTS = {
    "subsample": 1,  # accumulate-subsample's draw from the pool, per chain and generation
    "reference": 2**31 - 1,  # data fixed by the seed alone: held-out real points, evaluation draws
    "snapshot": 2**31 - 2,  # samples drawn from a recorded model for figures and files
    "figure": 2**31 - 3,  # anything else a plot draws
    # a family's draws shared by every chain of every run with the same design seed (the regression
    # family's fixed design X and its true weights w*): prepare() makes them without a run seed
    "design": 2**31 - 4,
    # A chain's state before generation 0 when it is random (a model fitted to the chain's own real
    # data). Folded into the chain key, so above every generation index (those are < 2^31 - 1).
    "initial": 2**31,
}

# numpy streams of the language-model driver, addressed by (seed, setting, generation, purpose, ...).
NUMPY_PURPOSES = {"init": 1, "dropout": 2, "shuffle": 3, "mix": 4}


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed as an int in [0, 2^64 - 1], or one clear error (never a wrap-around alias)."""
    value = as_int(name, seed, minimum=0)
    if value > MAX_SEED:
        raise InputError(f"{name} must be below 2^64 (the root key holds 64 bits), got {value}")
    return value


def root_key(seed: int) -> jax.Array:
    """The run's root key; for seeds below 2^32 it equals ``jax.random.key(seed)``."""
    seed = check_seed(seed)
    words = np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(words), impl=IMPL)


def check_chains(chains: int, first: int = 0) -> tuple[int, int]:
    chains = as_int("chains", chains, minimum=1)
    first = as_int("first_chain", first, minimum=0)
    if first + chains > MAX_CHAINS:
        raise InputError(f"chain indices must stay below 2^32 (they are 32-bit stream addresses); "
                         f"first_chain + chains = {first + chains}")
    return chains, first


def chain_keys(seed: int, chains: int, first: int = 0) -> jax.Array:
    """Keys of chains ``first .. first + chains - 1``: each depends on its index alone."""
    chains, first = check_chains(chains, first)
    index = jnp.arange(chains, dtype=jnp.uint32) + jnp.uint32(first)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(root_key(seed), index)


def lane_keys(seeds: Sequence[int], chain_index: Sequence[int]) -> jax.Array:
    """Keys of lanes that belong to different runs: lane i is chain ``chain_index[i]`` of the run
    seeded ``seeds[i]`` (the sweep runs many grid points as the lanes of one kernel this way)."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    words = np.stack([(seeds >> np.uint64(32)).astype(np.uint32), (seeds & np.uint64(0xFFFFFFFF)).astype(np.uint32)], -1)
    roots = jax.random.wrap_key_data(jnp.asarray(words), impl=IMPL)
    return jax.vmap(jax.random.fold_in)(roots, jnp.asarray(np.asarray(chain_index, dtype=np.uint32)))


def generation_keys(keys_C: jax.Array, t: jax.Array) -> jax.Array:
    """This generation's key of every chain: ``t`` is one generation for all chains, or (C,) one
    per chain (the asynchronous driver, where every chain is at its own generation)."""
    return jax.vmap(jax.random.fold_in, in_axes=(0, 0 if jnp.ndim(t) else None))(keys_C, t)


def stream(key: jax.Array, name: str) -> jax.Array:
    """The named stream ``name`` of ``key`` (a key or an array of keys)."""
    salt = SALTS[name]
    if jnp.ndim(key):
        return jax.vmap(jax.random.fold_in, in_axes=(0, None))(key, salt)
    return jax.random.fold_in(key, salt)


def numpy_stream(seed: int, *address: int | str) -> np.random.Generator:
    """A numpy Generator addressed by the seed and a path of integers (or NUMPY_PURPOSES names)."""
    words = [check_seed(seed)] + [NUMPY_PURPOSES[a] if isinstance(a, str) else int(a) for a in address]
    return np.random.default_rng(words)


__all__ = ["root_key", "chain_keys", "lane_keys", "generation_keys", "stream", "numpy_stream", "check_seed",
           "check_chains", "SALTS", "MAX_SEED", "MAX_CHAINS"]
