"""The kernel contract: what a model family gives the engine.

A kernel is a **frozen dataclass** whose fields are the family's static configuration (workflow,
dimension, dtype, ...). Being hashable, it is the engine's compile-cache key: two runs with equal
kernels and equal array shapes share one compiled program. Everything that is data (the original
distribution, mixing weights, sample sizes) travels as arrays in ``params`` and ``inputs``.

A family implements four pure functions, all batched over chains:

``init(params, chains) -> state``
    The state of every chain before generation 0 (a pytree of arrays; the chain index is axis
    ``chain_axis`` of every leaf: 0 for most families, -1 for the discrete family's [K, C] layout).
``step(keys_C, state, params, x) -> state``
    One generation. ``keys_C`` holds this generation's key of every chain (addressable: chain c
    at generation t always gets the same key); ``x`` this generation's inputs (``x["t"]``, the
    generation index, and the family's per-generation table row, see below).
``observe(state, params, generation) -> {name: (C,) array}``
    The metrics of every chain's current model (row 0 is ``observe(init(...), params, 0)``).
``snapshot(state) -> {name: array}``
    What a trajectory keeps of the state (the chain axis where the state has it).

**Parameters** are ``Params(shared, lanes)``: ``shared`` values are the same for every chain;
``lanes`` values have the chain axis (a sweep runs many grid points as the lanes of one kernel).
``params.get(name)`` returns whichever holds ``name``; families write their arithmetic so that a
shared scalar and a per-lane vector broadcast alike. ``lane_params`` names what may vary per lane.

**Per-generation inputs** are a table: each leaf has shape (G, S), one column per distinct
schedule in the batch; ``params.get("column")`` picks a chain's column (``select_column``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, NamedTuple

import jax
import jax.numpy as jnp


class Params(NamedTuple):
    shared: Mapping[str, Any]
    lanes: Mapping[str, Any]

    def get(self, name: str) -> Any:
        return self.lanes[name] if name in self.lanes else self.shared[name]

    def __contains__(self, name: str) -> bool:
        return name in self.lanes or name in self.shared


def shared(**values: Any) -> Params:
    """Parameters of a single run: every chain shares every value (one schedule column)."""
    return Params(dict(values, column=jnp.zeros((), jnp.int32)), {})


def select_column(x: Mapping[str, jax.Array], params: Params) -> dict[str, jax.Array]:
    """This generation's inputs for every chain: leaves (S,) become scalars (one column shared by
    all chains) or (C,) vectors (a column per lane); ``t`` passes through."""
    col = params.get("column")
    return {k: (v if k in ("t", "valid") else v[col]) for k, v in x.items()}


class Kernel:
    """Base class of the families' kernels (subclasses are ``@dataclass(frozen=True)``)."""

    name: ClassVar[str] = "kernel"
    chain_axis: ClassVar[int] = 0
    lane_params: ClassVar[tuple[str, ...]] = ()

    def init(self, params: Params, chains: int) -> Any:
        raise NotImplementedError

    def step(self, keys_C: jax.Array, state: Any, params: Params, x: Mapping[str, jax.Array]) -> Any:
        raise NotImplementedError

    def observe(self, state: Any, params: Params, generation: jax.Array) -> dict[str, jax.Array]:
        raise NotImplementedError

    def snapshot(self, state: Any) -> dict[str, jax.Array]:
        return {}


__all__ = ["Kernel", "Params", "shared", "select_column"]
