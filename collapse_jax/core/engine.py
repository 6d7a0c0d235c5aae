"""The simulation loop shared by every chain family: ``lax.scan`` over generations, batched chains.

A family supplies a pure step ``step(keys_C, state, x) -> (state, metrics)`` where ``keys_C`` holds
one key per chain for this generation, ``state`` is a pytree with a leading chain axis and ``x`` the
per-generation inputs (sample size, generation index, ...). This module handles the rest:

- addressable randomness: chain c uses ``fold_in(root, c)`` and generation t ``fold_in(chain_key, t)``,
  so chain 17's path is the same with 100 or 10^6 chains, in one block or many, on 1 or 8 devices;
- blocks of generations compiled once and run under a progress bar;
- the chain axis sharded over every local device.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .errors import as_int


def root_key(seed: int) -> jax.Array:
    return jax.random.key(as_int("seed", seed, minimum=0))


def chain_keys(seed: int, chains: int, first: int = 0) -> jax.Array:
    """Keys of chains ``first .. first + chains - 1``: each depends on its index alone."""
    root = root_key(seed)
    index = jnp.arange(first, first + chains, dtype=jnp.uint32)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(root, index)


def generation_keys(keys_C: jax.Array, t: jax.Array) -> jax.Array:
    return jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys_C, t)


def chain_sharding(chains: int) -> NamedSharding | None:
    """Shard the leading (chain) axis over all local devices when it divides evenly."""
    devices = jax.local_devices()
    if len(devices) < 2 or chains % len(devices):
        return None
    return NamedSharding(Mesh(np.asarray(devices), ("chains",)), PartitionSpec("chains"))


def shard_chains(tree: Any, chains: int) -> Any:
    sharding = chain_sharding(chains)
    if sharding is None:
        return tree
    return jax.tree.map(lambda a: jax.device_put(a, sharding) if getattr(a, "ndim", 0) >= 1 else a, tree)


def run_generations(
    step: Callable[[jax.Array, Any, Mapping[str, jax.Array]], tuple[Any, Mapping[str, jax.Array]]],
    state: Any,
    keys_C: jax.Array,
    xs: Mapping[str, np.ndarray],
    *,
    block: int | None = None,
    progress: bool = True,
    desc: str = "generations",
    on_block: Callable[[int, Any], None] | None = None,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Run ``len(xs['t'])`` generations; returns the final state and metrics stacked to (G, chains).

    ``xs`` must contain ``t`` (the generation index, used for the keys) and any other per-generation
    inputs. Work runs in blocks of ``block`` generations (one compile per block length), so a
    progress bar can advance and host memory holds one block of device output at a time.
    """
    generations = len(xs["t"])
    chains = keys_C.shape[0]
    if block is None:
        # Aim for a few seconds of work per block: about 2^25 chain-generations, at least 1.
        block = max(1, min(generations, (1 << 25) // max(chains, 1), 500))
    keys_C = shard_chains(keys_C, chains)
    # The state is donated to each block; copy it once so the caller's arrays (and leaves that
    # alias each other) stay valid.
    state = shard_chains(jax.tree.map(lambda a: jnp.array(a, copy=True), state), chains)

    def run_block(state, keys_C, xs_block):
        def body(state, x):
            state, metrics = step(generation_keys(keys_C, x["t"]), state, x)
            return state, metrics

        return jax.lax.scan(body, state, xs_block)

    run_block = jax.jit(run_block, donate_argnums=(0,))
    chunks: list[dict[str, np.ndarray]] = []
    bar = _progress_bar(generations * chains, desc, progress)
    try:
        for start in range(0, generations, block):
            xs_block = {k: jnp.asarray(v[start:start + block]) for k, v in xs.items()}
            state, metrics = run_block(state, keys_C, xs_block)
            chunks.append(jax.tree.map(np.asarray, dict(metrics)))
            if on_block is not None:
                on_block(start + len(xs_block["t"]), state)
            bar.update(len(xs_block["t"]) * chains)
    finally:
        bar.close()
    if not chunks:
        return state, {}
    metrics = {k: np.concatenate([c[k] for c in chunks], axis=0) for k in chunks[0]}
    return state, metrics


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=" chain-gen", unit_scale=True, leave=False, mininterval=0.5)


__all__ = ["root_key", "chain_keys", "generation_keys", "chain_sharding", "shard_chains", "run_generations"]
