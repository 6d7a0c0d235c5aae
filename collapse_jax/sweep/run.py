"""Running a sweep: each chunk's lanes (grid point × chain) as the chains of one engine run."""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from ..core import engine, streams
from ..core.errors import InputError, as_int
from ..core.kernel import Params
from ..core.progress import Progress
from ..core.simulation import x64
from .config import family, load_config
from .plan import Point, plan_chunks, points_of
from .store import chunk_path, fingerprint, open_sweep_dir, read_chunk, write_chunk
from .table import SweepResult, finalize


def _stack_lanes(values: Sequence[np.ndarray], axis: int) -> np.ndarray:
    return np.stack([np.asarray(v) for v in values], axis=axis if axis >= 0 else -1)


def run_chunk(cfg: Mapping[str, Any], points: Sequence[Point], chunk: Mapping[str, Any],
              bar: "Progress | bool" = False) -> dict[str, np.ndarray]:
    """The chunk's lanes as one engine run: per-lane keys (chain c of point p uses
    ``fold_in(key(rng_seed_p), c)``, as ``simulate(seed=rng_seed_p)`` would), per-lane parameters,
    one schedule column per point; padded to the group's width so every chunk shares one compile."""
    members = list(dict.fromkeys(p for p, _, _ in chunk["pieces"]))
    first = points[members[0]].prepared
    kernel = first.kernel
    lane_point = np.concatenate([np.full(n, p, np.int64) for p, _, n in chunk["pieces"]])
    lane_chain = np.concatenate([np.arange(f, f + n, dtype=np.int64) for _, f, n in chunk["pieces"]])
    n_lanes, width = lane_point.size, chunk["width"]
    pad = np.full(width - n_lanes, n_lanes - 1, np.int64)  # repeat the last lane; dropped afterwards
    lanes = np.concatenate([np.arange(n_lanes), pad])
    column = np.asarray([members.index(p) for p in lane_point[lanes]], np.int32)
    ax = kernel.chain_axis
    shared = {k: v for k, v in first.params.items() if k not in kernel.lane_params}
    per_lane = {k: _stack_lanes([points[p].prepared.params[k] for p in lane_point[lanes]], ax)
                for k in kernel.lane_params if k in first.params}
    per_lane["column"] = column
    columns = members + [members[-1]] * (chunk["columns"] - len(members))

    def inputs(start: int, stop: int) -> dict[str, np.ndarray]:
        tables = [points[m].prepared.table(start, stop) for m in columns]
        return {k: np.stack([t[k] for t in tables], axis=1) for k in tables[0]}

    with x64(first.dtype):
        keys = streams.lane_keys([points[p].rng_seed for p in lane_point[lanes]], lane_chain[lanes])
        out = engine.run(kernel, Params(shared, per_lane), keys, inputs, generations=cfg["generations"],
                         metrics_every=cfg["metrics_every"], progress=bar, desc="sweep")
    data = {k: np.asarray(out.metrics[k][:, :n_lanes], np.float32) for k in cfg["metrics"] if k in out.metrics}
    events = family(cfg["family"]).events(jax.device_get(out.state))
    data.update({k: np.asarray(v)[:n_lanes] for k, v in events.items()})
    data.update(point=lane_point, chain=lane_chain, generation=out.rows)
    return data


def run(config: "str | os.PathLike | Mapping[str, Any]", out: "str | os.PathLike | None" = None, *,
        scale: str | None = None, progress: bool = True, max_chunks: int | None = None,
        distributed: bool = False) -> SweepResult | None:
    """Run (or resume) a sweep into ``out``; returns the summary once every chunk is done.

    ``max_chunks`` stops after that many new chunks (returns None while work remains): a way to
    split a sweep across sessions, and what the resume tests use in place of a kill.
    ``distributed=True`` calls ``jax.distributed.initialize()`` and has process i run chunks
    i, i + n, ... (a shared file system is assumed); process 0 writes the table.
    """
    if max_chunks is not None:
        max_chunks = as_int("max_chunks", max_chunks, minimum=1)
    cfg = load_config(config, scale)
    points = points_of(cfg)
    chunks = plan_chunks(cfg, points)
    out = open_sweep_dir(out if out is not None else f"runs/sweep-{cfg['name'] or fingerprint(cfg)}", cfg,
                         len(chunks))
    fp = fingerprint(cfg)
    proc_index, proc_count = 0, 1
    if distributed:
        jax.distributed.initialize()
        proc_index, proc_count = jax.process_index(), jax.process_count()
    mine = [c for c in chunks if c["id"] % proc_count == proc_index]
    work = {c["id"]: c["width"] * cfg["generations"] for c in chunks}  # padded lanes run too
    todo = []
    for c in mine:
        path = chunk_path(out, c["id"])
        if path.exists():
            read_chunk(path, c, fp)
        else:
            todo.append(c)
    done_work = sum(work[c["id"]] for c in mine) - sum(work[c["id"]] for c in todo)
    started = time.perf_counter()
    write_s, new = 0.0, 0
    with Progress(sum(work[c["id"]] for c in mine), "sweep", enabled=progress, initial=done_work) as bar:
        for c in todo:
            if max_chunks is not None and new >= max_chunks:
                break
            data = run_chunk(cfg, points, c, bar)
            t0 = time.perf_counter()
            write_chunk(out, c, fp, data)
            write_s += time.perf_counter() - t0
            new += 1
    stats = {"chunks": len(chunks), "new_chunks": new, "resumed_chunks": len(mine) - len(todo),
             "run_s": time.perf_counter() - started, "write_s": write_s}
    if any(not chunk_path(out, c["id"]).exists() for c in chunks) or proc_index != 0:
        return None
    return finalize(out, cfg, points, chunks, stats)


__all__ = ["run", "run_chunk"]
