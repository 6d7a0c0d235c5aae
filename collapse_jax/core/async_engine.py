"""The asynchronous driver of iterative kernels: every chain at its own pace.

An :class:`~.kernel.IterativeKernel`'s generation is a fit that takes a different number of
iterations in every chain (k-means, EM). :func:`engine.run <collapse_jax.core.engine.run>` runs
``step`` (begin, tick until every chain has finished, end) for all chains together, so each
generation waits for its slowest fit. :func:`run_async` calls the same four functions but lets
each chain begin its next generation as soon as its own fit has ended:

- a *round* ticks every chain ``ticks`` times (a finished chain's tick changes nothing);
- then up to ``batch`` chains whose fits have ended are gathered, ended, observed, recorded and
  begun on their next generation, and scattered back (the cost of that step is paid for the
  ready chains only, not the whole batch);
- one compiled call runs up to ``rounds`` rounds; between calls the host collects finished metrics
  rows, moves the progress bar and answers Ctrl-C.

Every chain gets the same keys (chain c, generation t), the same per-generation inputs and the
same arithmetic as under ``engine.run``, so the returned :class:`~.engine.Output` (metrics rows,
snapshots, final state) is the same, number for number.

**The window.** Chains drift apart, by at most ``window`` generations: the per-generation inputs,
the metrics rows and the snapshots live on the device in ring buffers covering that many
generations from the window's start. When the slowest chain has passed the window's first half,
the window moves on by half its length (the inputs of the new generations are built then); a
chain that reaches the window's end waits until it moves. So a run of any length holds a bounded
table, as under the block-wise synchronous driver.

One device: the chains are not sharded (each device would need its own loop of rounds).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import engine
from .cache import enable_compilation_cache
from .errors import as_int
from .kernel import IterativeKernel, Params
from .progress import Progress
from .streams import generation_keys

TICKS = 8  # ticks per round: enough that gathering the ready chains is a small part of a round
ROUNDS = 32  # rounds per compiled call: the host looks in between
HALF_WINDOW = 128  # generations: chains may drift up to twice this far apart


@dataclass(frozen=True)
class Plan:
    """The static shape of a run's compiled calls."""

    chains: int
    generations: int
    every: int  # a metrics row every this many generations (and at the last)
    record_every: int  # a snapshot every this many generations (0: none)
    keep: int  # chains kept in snapshots (>= 1; none are written when record_every is 0)
    window: int  # generations covered by the ring buffers (a multiple of 2 * the period)
    batch: int  # chains serviced per round at most
    ticks: int
    rounds: int

    @property
    def metric_slots(self) -> int:
        return self.window // self.every

    @property
    def snapshot_slots(self) -> int:
        return self.window // self.record_every if self.record_every else 1


class Carry(NamedTuple):
    state: Any  # every chain's state (after ``gen`` generations)
    work: Any  # every chain's fit in progress (finished where ``running`` is false)
    gen: jax.Array  # (C,) generations each chain has completed
    running: jax.Array  # (C,) a fit in progress (else waiting for the window, or done)
    metrics: dict[str, jax.Array]  # name -> (metric_slots, C) ring of metrics rows
    snaps: dict[str, jax.Array]  # name -> (snapshot_slots, keep, ...) ring of snapshots


def _where(mask_C: jax.Array, a, b):
    """Per chain (leading axis), ``a`` where mask else ``b``, over pytrees."""
    return jax.tree.map(lambda u, v: jnp.where(mask_C.reshape(mask_C.shape + (1,) * (u.ndim - 1)), u, v), a, b)


def _slot(done, every: int, slots: int):
    """Ring slot of the row recorded after ``done`` generations (rows at every·k and the last);
    device or host arrays."""
    return ((done - 1) // every) % slots


def _is_row(done: jax.Array, every: int, generations: int) -> jax.Array:
    return (done % every == 0) | (done == generations)


@functools.partial(jax.jit, static_argnames=("kernel",))
def _begin_all(kernel: IterativeKernel, state, keys_C, params: Params, x):
    """Generation 0's fits of every chain, begun together (exactly as ``step`` begins them)."""
    return kernel.begin(generation_keys(keys_C, x["t"]), state, params, x)


@functools.partial(jax.jit, static_argnames=("kernel", "plan"), donate_argnames=("carry",))
def _advance(kernel: IterativeKernel, plan: Plan, carry: Carry, keys_C, params: Params, window, lo):
    """Up to ``plan.rounds`` rounds; returns the carry (stops early when no chain can move)."""
    C, G = plan.chains, plan.generations

    def can_begin(gen):
        return (gen < G) & (gen < lo + plan.window)

    def service(args):
        c, ready = args
        idx = jnp.nonzero(ready, size=plan.batch, fill_value=C)[0]
        valid = idx < C
        take = lambda tree: jax.tree.map(lambda a: a.at[idx].get(mode="clip"), tree)  # noqa: E731
        state, work, gen = take(c.state), take(c.work), take(c.gen)
        ending = valid & take(c.running)
        p = Params(params.shared, take(params.lanes))
        state = _where(ending, kernel.end(work, state, p), state)
        done = gen + ending.astype(gen.dtype)

        row = ending & _is_row(done, plan.every, G)
        at = jnp.where(row, idx, C)
        slot = _slot(done, plan.every, plan.metric_slots)
        metrics = kernel.observe(state, p, done)
        ring = {k: c.metrics[k].at[slot, at].set(metrics[k].astype(c.metrics[k].dtype), mode="drop")
                for k in c.metrics}
        snaps = c.snaps
        if plan.record_every:
            snap = ending & (idx < plan.keep) & _is_row(done, plan.record_every, G)
            at = jnp.where(snap, idx, plan.keep)
            slot = _slot(done, plan.record_every, plan.snapshot_slots)
            values = kernel.snapshot(state)
            snaps = {k: v.at[slot, at].set(values[k].astype(v.dtype), mode="drop") for k, v in c.snaps.items()}

        starting = valid & can_begin(done)
        row_of = jnp.clip(done - lo, 0, plan.window - 1)
        x = {k: v[row_of] for k, v in window.items()}
        begun = kernel.begin(generation_keys(keys_C.at[idx].get(mode="clip"), done), state, p, x)
        work = _where(starting, begun, work)

        put = lambda full, sub: jax.tree.map(lambda a, b: a.at[idx].set(b, mode="drop"), full, sub)  # noqa: E731
        return Carry(put(c.state, state), put(c.work, work), put(c.gen, done), put(c.running, starting), ring, snaps)

    def round_(loop):
        r, c = loop
        work = jax.lax.fori_loop(0, plan.ticks, lambda _, w: kernel.tick(w, params), c.work)
        c = c._replace(work=work)
        ready = (c.running & kernel.finished(work)) | (~c.running & can_begin(c.gen))
        return r + 1, jax.lax.cond(jnp.any(ready), service, lambda a: a[0], (c, ready))

    def going(loop):
        r, c = loop
        return (r < plan.rounds) & jnp.any(c.running | can_begin(c.gen))

    return jax.lax.while_loop(going, round_, (jnp.zeros((), jnp.int32), carry))[1]


def run_async(
    kernel: IterativeKernel,
    params: Params,
    keys_C: jax.Array,
    inputs: Callable[[int, int], Mapping[str, np.ndarray]],
    *,
    generations: int,
    metrics_every: int = 1,
    record_every: int = 0,
    record_chains: int | None = None,
    progress: bool = True,
    desc: str = "generations",
    ticks: int = TICKS,
    rounds: int = ROUNDS,
    half_window: int = HALF_WINDOW,
    batch: int | None = None,
) -> engine.Output:
    """:func:`engine.run <collapse_jax.core.engine.run>`'s arguments and result, for an
    :class:`~.kernel.IterativeKernel` whose chains advance at their own pace.

    ``ticks`` per round, ``rounds`` per compiled call, chains at most ``2 * half_window``
    generations apart (rounded up to whole metrics/snapshot periods), ``batch`` chains serviced
    per round (default a quarter of the chains, at least 8). After Ctrl-C
    (:class:`engine.Interrupted`) the output holds the rows every chain has completed
    (``generations_done`` is the slowest chain's count), and ``state`` each chain's own latest
    state (chains ahead of the slowest have advanced further)."""
    if not isinstance(kernel, IterativeKernel):
        raise TypeError(f"run_async needs an IterativeKernel (begin, tick, finished, end), got {type(kernel).__name__}")
    if kernel.chain_axis != 0:
        raise ValueError("run_async needs kernels whose state has the chain axis first")
    enable_compilation_cache()
    chains = int(keys_C.shape[0])
    G, every, record_every, keep_n = engine.check_run(chains, generations, metrics_every, record_every,
                                                      record_chains)
    period = record_every or every
    half = period * -(-max(1, min(as_int("half_window", half_window, minimum=1), G)) // period)
    batch = min(chains, max(8, -(-chains // 4)) if batch is None else as_int("batch", batch, minimum=1))
    plan = Plan(chains, G, every, record_every, max(keep_n, 1), 2 * half, batch,
                as_int("ticks", ticks, minimum=1), as_int("rounds", rounds, minimum=1))
    all_rows = engine.metric_rows(G, every)
    snap_rows = engine.metric_rows(G, record_every) if record_every else np.zeros(0, np.int64)

    state_shape, metric_shape, snap_shape = engine.result_shapes(kernel, params, keys_C)
    window = engine._block_inputs(inputs, 0, min(plan.window, G), plan.window)
    work_shape = jax.eval_shape(lambda s, x: kernel.begin(generation_keys(keys_C, x["t"]), s, params, x),
                                state_shape, jax.tree.map(lambda a: a[0], window))
    held = engine.held_bytes(state_shape, metric_shape, snap_shape, chains=chains, padded=chains, rows=len(all_rows),
                             generations=G, record_every=record_every, keep=keep_n)
    held += 2 * (engine._nbytes(state_shape) + engine._nbytes(work_shape))
    held += plan.metric_slots * engine._nbytes(metric_shape) + plan.snapshot_slots * engine._nbytes(snap_shape)
    engine.check_run_memory(chains, G, held)

    state, m0, s0 = engine._initial(kernel, params, keys_C, plan.keep)
    metrics: dict[str, list[np.ndarray]] = {k: [np.asarray(v)[None]] for k, v in m0.items()}
    snaps: dict[str, list[np.ndarray]] = {k: [] for k in s0}
    row_gens: list[np.ndarray] = [np.zeros(1, np.int64)]
    snap_gens: list[int] = []
    if record_every:
        for k, v in s0.items():
            snaps[k].append(np.asarray(v)[None, :keep_n])
        snap_gens.append(0)
    if G == 0:
        return engine._output(state, metrics, row_gens, snaps, snap_gens, 0, chains, 0)

    work = _begin_all(kernel, state, keys_C, params, jax.tree.map(lambda a: a[0], window))
    ring = {k: jnp.zeros((plan.metric_slots, chains), v.dtype) for k, v in m0.items()}
    snap_ring = ({k: jnp.zeros((plan.snapshot_slots, plan.keep, *v.shape[1:]), v.dtype) for k, v in s0.items()}
                 if record_every else {})
    carry = Carry(state, work, jnp.zeros(chains, jnp.int32), jnp.ones(chains, bool), ring, snap_ring)

    lo = flushed = 0
    moved = 0
    bar = Progress(G * chains, desc, enabled=progress)

    def collect(upto: int) -> None:
        """Rows and snapshots of generations (flushed, upto], which every chain has completed."""
        new = all_rows[(all_rows > flushed) & (all_rows <= upto)]
        if new.size:
            slots = _slot(new, every, plan.metric_slots)
            for k, v in carry.metrics.items():
                metrics[k].append(np.asarray(v)[slots])
            row_gens.append(new)
        new = snap_rows[(snap_rows > flushed) & (snap_rows <= upto)]
        if new.size:
            slots = _slot(new, record_every, plan.snapshot_slots)
            for k, v in carry.snaps.items():
                snaps[k].append(np.asarray(v)[slots][:, :keep_n])
            snap_gens.extend(new.tolist())

    try:
        while flushed < G:
            carry = _advance(kernel, plan, carry, keys_C, params, window, jnp.int32(lo))
            gen = np.asarray(carry.gen)
            total = int(gen.sum(dtype=np.int64))
            bar.update(total - moved)
            moved = total
            slowest = int(gen.min())
            if slowest > flushed:
                collect(slowest)
                flushed = slowest
            if slowest >= lo + half and lo + plan.window < G:
                lo += half * ((slowest - lo) // half)
                window = engine._block_inputs(inputs, lo, min(lo + plan.window, G), plan.window)
    except KeyboardInterrupt:
        raise engine.Interrupted(engine._output(carry.state, metrics, row_gens, snaps, snap_gens, flushed,
                                                chains, 0)) from None
    finally:
        bar.close()
    return engine._output(carry.state, metrics, row_gens, snaps, snap_gens, G, chains, 0)


__all__ = ["run_async", "Plan", "TICKS", "ROUNDS", "HALF_WINDOW"]
