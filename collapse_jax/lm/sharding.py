"""Data parallelism without user code: the batch axis is split over a 1-D mesh of all devices.

Parameters and optimizer state are replicated; ``jit`` (GSPMD) inserts the gradient all-reduce.
With one device every helper is the identity, so the single-device path pays nothing.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


@functools.lru_cache(maxsize=None)
def _mesh_for(devices: tuple) -> Mesh:
    return Mesh(list(devices), (AXIS,))


def data_mesh(devices=None) -> Mesh | None:
    """The 1-D ``data`` mesh over ``devices`` (default: all), or None when there is only one device."""
    devices = tuple(jax.devices() if devices is None else devices)
    return _mesh_for(devices) if len(devices) > 1 else None


def replicate(tree: Any, mesh: Mesh | None) -> Any:
    if mesh is None:
        return tree
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(tree: Any, mesh: Mesh | None) -> Any:
    """Split every array's leading (batch) axis over the mesh; replicate when it does not divide evenly."""
    if mesh is None:
        return tree
    n = mesh.devices.size
    leaves = jax.tree.leaves(tree)
    if any(getattr(x, "ndim", 0) == 0 or x.shape[0] % n for x in leaves):
        return replicate(tree, mesh)
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(AXIS)))
