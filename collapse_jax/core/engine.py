"""The one simulation loop: every family's kernel runs here (see :mod:`collapse_jax.core.kernel`).

``run`` advances all chains through ``generations`` generations in **blocks** of a fixed length,
each one compiled call (a ``lax.scan``) whose program is cached by the kernel and the shapes, so a
run, a resumed run and a sweep's chunks reuse one compilation. Inside a block:

- generations beyond the last are padding: the loop's trip count is the block's real length
  (``xs["count"]``, data, not shape), so one compiled block serves every run length;
- metrics are observed every ``metrics_every`` generations (and after the last);
- snapshots of the first ``record_chains`` chains are kept every ``record_every`` generations.

Around the blocks: addressable keys (chain c, generation t: see :mod:`.streams`), the chain axis
split over every local device with ``shard_map`` (each device runs its own chains' loops with no
cross-device synchronisation), the per-generation inputs built block by block (a billion
generations never allocate a billion-row table), a progress bar that excludes compilation, a
memory estimate checked before anything is allocated, and Ctrl-C answered between blocks with the
generations completed so far (:class:`Interrupted`).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from .cache import enable_compilation_cache
from .errors import InputError, as_int
from .kernel import Kernel, Params
from .progress import Progress
from .streams import generation_keys

# About this many chain-generations per block: a few seconds of work for the cheapest kernels, so
# the progress bar moves and Ctrl-C is answered promptly. A kernel may scale it (``block_work``).
BLOCK_WORK = 1 << 23
MAX_BLOCK = 4096  # generations per block at most (the scan's inputs and outputs live on the device)
MEMORY_FRACTION = 0.6  # refuse a run whose results would take more of the available memory


class Output(NamedTuple):
    """What :func:`run` returns (host arrays)."""

    state: Any  # the final state (device arrays)
    metrics: dict[str, np.ndarray]  # (rows, chains); row 0 is the initial state
    rows: np.ndarray  # the generation of each metrics row
    trajectory: dict[str, np.ndarray]  # (snapshots, record_chains, ...) in the state's layout
    snapshot_rows: np.ndarray  # the generation of each snapshot
    generations_done: int  # < generations only after Ctrl-C


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: ``output`` holds the generations completed before it."""

    def __init__(self, output: Output):
        super().__init__("interrupted")
        self.output = output


@dataclass(frozen=True)
class Layout:
    """The static shape of a block: ``snaps`` snapshot periods of ``rows`` metrics rows of ``every``
    generations; ``keep`` chains per device in a snapshot; ``devices`` the shard count."""

    snaps: int
    rows: int
    every: int
    keep: int
    devices: int
    chain_axis: int

    @property
    def generations(self) -> int:
        return self.snaps * self.rows * self.every


def _floor_pow2(n: int) -> int:
    return 1 << (max(int(n), 1).bit_length() - 1)


def _ceil_pow2(n: int) -> int:
    return 1 << (max(int(n), 1) - 1).bit_length()


def metric_rows(generations: int, every: int) -> np.ndarray:
    """Generations at which metrics are observed: 0, every, 2·every, ..., and the last."""
    rows = np.arange(0, generations + 1, every, dtype=np.int64)
    return rows if rows[-1] == generations else np.append(rows, generations)


# ---------------------------------------------------------------------------------------------
# One compiled block


def _chain_spec(ndim: int, chain_axis: int) -> PartitionSpec:
    if ndim == 0:
        return PartitionSpec()
    axis = chain_axis % ndim
    return PartitionSpec(*[("chains" if i == axis else None) for i in range(ndim)])


def _take_chains(a: jax.Array, k: int, chain_axis: int) -> jax.Array:
    if a.ndim == 0:
        return a
    return jax.lax.slice_in_dim(a, 0, k, axis=chain_axis % a.ndim)


def _block_body(kernel: Kernel, layout: Layout, state, keys_C, params: Params, xs):
    """The first ``xs["count"]`` of ``layout.generations`` generations from ``state``; returns (state,
    metrics, snapshots). Rows past the count run no generation (they are padding, dropped by ``run``)."""
    count = xs["count"]
    table = {k: v for k, v in xs.items() if k != "count"}

    def generation(i, state):
        x = jax.tree.map(lambda a: a[i], table)
        return kernel.step(generation_keys(keys_C, x["t"]), state, params, x)

    def row(state, r):
        # The trip count is data: padded generations run nothing, with no cond around each step.
        lo = r * layout.every
        hi = jnp.clip(count, lo, lo + layout.every)
        state = jax.lax.fori_loop(lo, hi, generation, state)
        done = jnp.where(hi > lo, table["t"][jnp.maximum(hi - 1, 0)] + 1, 0)
        return state, kernel.observe(state, params, done)

    def period(state, rows):
        state, metrics = jax.lax.scan(row, state, rows)
        snap = {k: _take_chains(v, layout.keep, kernel.chain_axis) for k, v in kernel.snapshot(state).items()}
        return state, (metrics, snap)

    rows = jnp.arange(layout.snaps * layout.rows, dtype=jnp.int32).reshape(layout.snaps, layout.rows)
    state, (metrics, snaps) = jax.lax.scan(period, state, rows)
    metrics = {k: v.reshape(layout.snaps * layout.rows, *v.shape[2:]) for k, v in metrics.items()}
    return state, metrics, snaps


@functools.partial(jax.jit, static_argnames=("kernel", "layout"), donate_argnames=("state",))
def _block(kernel: Kernel, layout: Layout, state, keys_C, params: Params, xs):
    body = functools.partial(_block_body, kernel, layout)
    if layout.devices == 1:
        return body(state, keys_C, params, xs)
    # One device per shard, each running its own chains' loops: no cross-device synchronisation
    # inside the block (a while-loop under automatic partitioning would wait for every device).
    mesh = Mesh(np.asarray(jax.local_devices()[: layout.devices]), ("chains",))
    ax = kernel.chain_axis
    chain = lambda tree: jax.tree.map(lambda a: _chain_spec(jnp.ndim(a), ax), tree)  # noqa: E731
    rep = lambda tree: jax.tree.map(lambda a: PartitionSpec(), tree)  # noqa: E731
    in_specs = (chain(state), PartitionSpec("chains"), Params(rep(params.shared), chain(params.lanes)), rep(xs))
    _, metric_shape, snap_shape = jax.eval_shape(body, state, keys_C, params, xs)
    out_specs = (chain(state),  # metrics are (rows, C); snapshots have a time axis before the state's axes
                 jax.tree.map(lambda a: PartitionSpec(None, "chains"), metric_shape),
                 jax.tree.map(lambda a: PartitionSpec(None, *_chain_spec(a.ndim - 1, ax)), snap_shape))
    sharded = jax.shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return sharded(state, keys_C, params, xs)


@functools.partial(jax.jit, static_argnames=("kernel", "keep"))
def _initial(kernel: Kernel, params: Params, keys_C: jax.Array, keep: int):
    state = kernel.start(keys_C, params)
    snap = {k: _take_chains(v, keep, kernel.chain_axis) for k, v in kernel.snapshot(state).items()}
    return state, kernel.observe(state, params, jnp.zeros((), jnp.int32)), snap


# ---------------------------------------------------------------------------------------------
# The run


def devices_for(chains: int) -> int:
    """How many local devices share the chains (all of them, if there are at least as many chains)."""
    return max(1, min(len(jax.local_devices()), chains))


def _pad_lanes(tree, chains: int, padded: int, axis: int):
    """Repeat the last lane so the chain count divides over the devices (extra lanes are dropped)."""
    if padded == chains:
        return tree

    def pad(a):
        a = jnp.asarray(a)
        if a.ndim == 0:
            return a
        ax = axis % a.ndim
        last = jax.lax.slice_in_dim(a, chains - 1, chains, axis=ax)
        return jnp.concatenate([a, jnp.repeat(last, padded - chains, axis=ax)], axis=ax)

    return jax.tree.map(pad, tree)


def _unpad(tree, chains: int, axis: int):
    def cut(a):
        return a if a.ndim == 0 else jax.lax.slice_in_dim(a, 0, chains, axis=axis % a.ndim)

    return jax.tree.map(cut, tree)


def available_memory() -> int:
    """Bytes of memory this process may still use (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _nbytes(tree) -> int:
    return int(sum(math.prod(a.shape) * jnp.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree)))


def check_memory(what: str, needed: int, remedy: str) -> None:
    """Refuse, before allocating, a run whose results would not fit in memory."""
    limit = int(MEMORY_FRACTION * available_memory())
    if needed > limit:
        raise InputError(f"{what} would hold about {needed / 2**30:.3g} GiB, more than "
                         f"{limit / 2**30:.3g} GiB ({MEMORY_FRACTION:.0%} of the memory available); {remedy}")


def check_run(chains: int, generations: int, metrics_every: int, record_every: int,
              record_chains: int | None) -> tuple[int, int, int, int]:
    """(generations, metrics_every, record_every, chains kept in snapshots), validated."""
    generations = as_int("generations", generations, minimum=0)
    every = as_int("metrics_every", metrics_every, minimum=1)
    record_every = as_int("record_every", record_every, minimum=0)
    if record_every and record_every % every:
        raise InputError(f"record_every ({record_every}) must be a multiple of metrics_every ({every})")
    keep_n = chains if record_chains is None else min(as_int("record_chains", record_chains, minimum=0), chains)
    return generations, every, record_every, keep_n


def result_shapes(kernel: Kernel, params: Params, keys_C: jax.Array):
    """Shapes of the state, one metrics row and one snapshot, without computing anything."""
    state_shape = jax.eval_shape(kernel.start, keys_C, params)
    metric_shape = jax.eval_shape(lambda s, p: kernel.observe(s, p, jnp.zeros((), jnp.int32)), state_shape, params)
    return state_shape, metric_shape, jax.eval_shape(kernel.snapshot, state_shape)


def held_bytes(state_shape, metric_shape, snap_shape, *, chains: int, padded: int, rows: int, generations: int,
               record_every: int, keep: int) -> int:
    """Bytes of the metrics rows and snapshots a run returns, plus one copy of its state."""
    held = rows * chains * _nbytes(metric_shape) // max(padded, 1)
    if record_every:
        snaps = generations // record_every + 2
        held += snaps * _nbytes(snap_shape) * keep // max(padded, 1)
    return held + _nbytes(state_shape)


def check_run_memory(chains: int, generations: int, held: int) -> None:
    check_memory(f"this run ({chains} chains, {generations} generations)", held,
                 "use fewer chains or generations, record metrics less often (metrics_every), keep fewer "
                 "trajectory snapshots (record_every, record_chains)")


def run(
    kernel: Kernel,
    params: Params,
    keys_C: jax.Array,
    inputs: Callable[[int, int], Mapping[str, np.ndarray]],
    *,
    generations: int,
    metrics_every: int = 1,
    record_every: int = 0,
    record_chains: int | None = None,
    progress: "bool | Progress" = True,
    desc: str = "generations",
    on_rows: Callable[[np.ndarray, dict[str, np.ndarray]], None] | None = None,
    keep_metrics: bool = True,
) -> Output:
    """Run ``generations`` generations of ``kernel`` for the chains of ``keys_C``.

    ``inputs(start, stop)`` returns the per-generation table for generations ``start .. stop-1``
    (leaves of shape (stop - start, S)). ``record_every`` (a multiple of ``metrics_every``; 0 = none)
    keeps snapshots of the first ``record_chains`` chains (default all). ``on_rows(generations,
    metrics)`` receives each block's new metrics rows as they arrive; with ``keep_metrics=False`` they
    are not kept (a caller that summarises them on the fly holds one block at a time).
    """
    enable_compilation_cache()
    chains = int(keys_C.shape[0])
    generations, every, record_every, keep_n = check_run(chains, generations, metrics_every, record_every,
                                                         record_chains)
    ax = kernel.chain_axis

    ndev = devices_for(chains)
    padded = -(-chains // ndev) * ndev
    keep = max(min(keep_n, padded // ndev), 1) if record_every else 1
    period = record_every or every
    # Periods per block: a power of two (the last block is padded), so runs of different lengths
    # share a handful of compiled programs, and the persistent cache serves them across runs.
    per_block = max(1, getattr(kernel, "block_work", BLOCK_WORK) // max(padded, 1))
    most = _floor_pow2(max(1, min(per_block, MAX_BLOCK) // period))
    periods = min(_ceil_pow2(-(-max(generations, 1) // period)), most)
    layout = Layout(periods if record_every else 1, (period // every) * (1 if record_every else periods), every,
                    keep, ndev, ax)
    B = layout.generations
    n_blocks = -(-generations // B) if generations else 0
    all_rows = metric_rows(generations, every)

    keys_C = _pad_lanes(keys_C, chains, padded, 0)
    params = Params(params.shared, _pad_lanes(params.lanes, chains, padded, ax))
    # What the run will hold on the host, before anything is allocated.
    state_shape, metric_shape, snap_shape = result_shapes(kernel, params, keys_C)
    held = held_bytes(state_shape, metric_shape, snap_shape, chains=chains, padded=padded,
                      rows=len(all_rows) if keep_metrics else 0, generations=generations,
                      record_every=record_every, keep=keep_n)
    held += 2 * _nbytes(state_shape) + B * _nbytes(metric_shape)
    check_run_memory(chains, generations, held)

    state, m0, s0 = _initial(kernel, params, keys_C, max(keep_n, 1))
    metrics: dict[str, list[np.ndarray]] = {k: [] for k in m0}
    snaps: dict[str, list[np.ndarray]] = {k: [] for k in s0}
    row_gens: list[np.ndarray] = []
    snap_gens: list[int] = [0] if record_every else []

    def collect_rows(gens, block_metrics):
        block_metrics = {k: np.asarray(v)[..., :chains] for k, v in block_metrics.items()}
        if on_rows is not None:
            on_rows(gens, block_metrics)
        if keep_metrics:
            for k, v in block_metrics.items():
                metrics[k].append(v)
        row_gens.append(gens)

    def collect_snaps(block_snaps, count):
        for k, v in block_snaps.items():
            snaps[k].append(_keep_first(np.asarray(v)[:count], keep_n, ax, lead=1))

    collect_rows(np.zeros(1, np.int64), {k: np.asarray(v)[None] for k, v in m0.items()})
    if record_every:
        collect_snaps({k: np.asarray(v)[None] for k, v in s0.items()}, 1)

    done = 0
    own_bar = not isinstance(progress, Progress)  # a caller's bar (a sweep's) spans many runs
    bar = Progress(generations * chains, desc, enabled=progress) if own_bar else progress
    try:
        for b in range(n_blocks):
            start = b * B
            stop = min(start + B, generations)
            xs = _block_inputs(inputs, start, stop, B)
            xs["count"] = jnp.asarray(stop - start, jnp.int32)  # the real generations; the rest is padding
            state, block_metrics, block_snaps = _block(kernel, layout, state, keys_C, params, xs)
            # Rows (and snapshot periods) that end past the last generation are padding: drop them.
            n_rows = -(-(stop - start) // every)
            collect_rows(np.minimum(start + every * np.arange(1, n_rows + 1), generations),
                         {k: np.asarray(v)[:n_rows] for k, v in block_metrics.items()})
            if record_every:
                n_snaps = -(-(stop - start) // record_every)
                collect_snaps({k: np.asarray(v)[:n_snaps] for k, v in block_snaps.items()}, n_snaps)
                snap_gens.extend(np.minimum(start + record_every * np.arange(1, n_snaps + 1), generations).tolist())
            done = stop
            bar.update((stop - start) * chains)
    except KeyboardInterrupt:
        raise Interrupted(_output(state, metrics, row_gens, snaps, snap_gens, done, chains, ax)) from None
    finally:
        if own_bar:
            bar.close()
    return _output(state, metrics, row_gens, snaps, snap_gens, done, chains, ax)


def _keep_first(a: np.ndarray, n: int, chain_axis: int, lead: int) -> np.ndarray:
    if a.ndim <= lead:
        return a
    ax = lead + (chain_axis % (a.ndim - lead))
    return np.take(a, np.arange(min(n, a.shape[ax])), axis=ax)


def _block_inputs(inputs, start: int, stop: int, length: int) -> dict[str, jax.Array]:
    table = {k: np.asarray(v) for k, v in inputs(start, stop).items()}
    n = stop - start
    xs = {}
    for k, v in table.items():
        if v.shape[0] != n:
            raise ValueError(f"inputs({start}, {stop}) gave {v.shape[0]} rows for {k!r}")
        pad = np.repeat(v[-1:], length - n, axis=0) if n else np.zeros((length, *v.shape[1:]), v.dtype)
        xs[k] = jnp.asarray(np.concatenate([v, pad]) if length > n else v)
    t = np.arange(start, start + length, dtype=np.int64)
    xs["t"] = jnp.asarray(np.minimum(t, np.iinfo(np.int32).max).astype(np.int32))
    return xs


def _output(state, metrics, row_gens, snaps, snap_gens, done, chains, ax) -> Output:
    state = _unpad(state, chains, ax)
    rows = np.concatenate(row_gens) if row_gens else np.zeros(0, np.int64)
    metrics = {k: np.concatenate(v, axis=0) for k, v in metrics.items() if v}
    trajectory = {k: np.concatenate(v, axis=0) for k, v in snaps.items() if v}
    return Output(state, metrics, rows, trajectory, np.asarray(snap_gens, np.int64), done)


__all__ = ["run", "Output", "Interrupted", "metric_rows", "check_memory", "available_memory", "devices_for",
           "BLOCK_WORK"]
