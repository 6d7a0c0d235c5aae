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

A kernel whose initial state is random (a model fitted to each chain's own real data) overrides
``start(keys_C, params) -> state`` instead of ``init``: ``keys_C`` are the chains' keys, and the
draws use ``stream(keys_C, "initial")`` (never a generation's key). By default ``start`` is ``init``.

**Iterative kernels** (:class:`IterativeKernel`): a generation whose fit is an iteration that
ends after a different number of steps in every chain (k-means, EM, gradient descent to a
tolerance) is written as four pure functions, and ``step`` is derived from them:

``begin(keys_C, state, params, x) -> work``
    Draw this generation's data and set up the fit (the arguments of ``step``).
``tick(work, params) -> work``
    One iteration of every chain whose fit has not finished; a finished chain's work is returned
    unchanged (bit for bit), so extra ticks never change an answer.
``finished(work) -> (C,) bool``
``end(work, state, params) -> state``
    The new state from the finished fit.

``step`` is ``begin``, ticks while any chain is unfinished, then ``end``: the synchronous driver
(:func:`collapse_jax.core.engine.run`) waits for the slowest chain every generation. The
asynchronous driver (:func:`collapse_jax.core.async_engine.run_async`) calls the same four
functions but lets every chain start its next generation as soon as its own fit ends, so each
chain's numbers are the same under both drivers.

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
    all chains) or (C,) vectors (a column per lane); ``t`` passes through.

    Under the asynchronous driver every chain is at its own generation: ``t`` is (C,) and each
    leaf (C, S) holds every chain's own table row; the result is (C,) vectors either way."""
    col = params.get("column")

    def pick(v):
        if jnp.ndim(v) == 1:
            return v[col]
        return jnp.take_along_axis(v, jnp.broadcast_to(col, v.shape[:1])[:, None], axis=1)[:, 0]

    return {k: (v if k == "t" else pick(v)) for k, v in x.items()}


class Kernel:
    """Base class of the families' kernels (subclasses are ``@dataclass(frozen=True)``)."""

    name: ClassVar[str] = "kernel"
    chain_axis: ClassVar[int] = 0
    lane_params: ClassVar[tuple[str, ...]] = ()

    def init(self, params: Params, chains: int) -> Any:
        raise NotImplementedError

    def start(self, keys_C: jax.Array, params: Params) -> Any:
        return self.init(params, keys_C.shape[0])

    def step(self, keys_C: jax.Array, state: Any, params: Params, x: Mapping[str, jax.Array]) -> Any:
        raise NotImplementedError

    def observe(self, state: Any, params: Params, generation: jax.Array) -> dict[str, jax.Array]:
        raise NotImplementedError

    def snapshot(self, state: Any) -> dict[str, jax.Array]:
        return {}


class IterativeKernel(Kernel):
    """A kernel whose generation is an iteration of its own length in every chain (see the module
    docstring): subclasses define ``begin``, ``tick``, ``finished`` and ``end``."""

    def begin(self, keys_C: jax.Array, state: Any, params: Params, x: Mapping[str, jax.Array]) -> Any:
        raise NotImplementedError

    def tick(self, work: Any, params: Params) -> Any:
        raise NotImplementedError

    def finished(self, work: Any) -> jax.Array:
        raise NotImplementedError

    def end(self, work: Any, state: Any, params: Params) -> Any:
        raise NotImplementedError

    def iterate(self, work: Any, params: Params) -> Any:
        """Ticks until every chain's fit has finished."""
        return jax.lax.while_loop(lambda w: ~jnp.all(self.finished(w)), lambda w: self.tick(w, params), work)

    def step(self, keys_C: jax.Array, state: Any, params: Params, x: Mapping[str, jax.Array]) -> Any:
        return self.end(self.iterate(self.begin(keys_C, state, params, x), params), state, params)


__all__ = ["Kernel", "IterativeKernel", "Params", "shared", "select_column"]
