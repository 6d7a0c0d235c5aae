"""The plan of a sweep: its grid points, the groups that share a compiled kernel, and the chunks.

Depends on the config alone (never on the device count or the machine), so a resumed sweep, or
another host of a multi-host sweep, finds exactly the same plan.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.simulation import Prepared
from .config import family


@dataclass
class Point:
    """One grid point: its parameters (every one, defaults filled in), seed and stream seed."""

    index: int
    seed: int
    rng_seed: int
    params: dict[str, Any]
    prepared: Prepared = field(default=None, repr=False)


def stream_seed(seed: int, params: Mapping[str, Any], streams: str) -> int:
    """The seed of a point's chains: the config's seed itself (``common``: common random numbers
    across points) or a 63-bit hash of (seed, parameters) (``independent``)."""
    if streams == "common":
        return seed
    text = json.dumps({"seed": seed, "params": params}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def varying(cfg: Mapping[str, Any]) -> list[str]:
    """The parameters that differ between points (grid and cases), in table order."""
    return [*sorted(cfg["grid"]), *dict.fromkeys(k for c in cfg["cases"] for k in c)]


def points_of(cfg: Mapping[str, Any]) -> list[Point]:
    """Every grid point, each validated by its family's ``prepare`` (the single-run API's checks).
    Order: the product of the grid parameters in alphabetical order (the last fastest), then the
    cases, then the seeds."""
    fam = family(cfg["family"])
    names = sorted(cfg["grid"])
    cases = cfg["cases"] or [{}]
    out: list[Point] = []
    for combo in itertools.product(*(cfg["grid"][n] for n in names)):
        for case in cases:
            for seed in cfg["seeds"]:
                params = {**fam.defaults, **cfg["fixed"], **dict(zip(names, combo)), **case}
                index = len(out)
                point = Point(index, seed, stream_seed(seed, params, cfg["streams"]), params)
                try:
                    point.prepared = fam.prepare(params, cfg["generations"])
                except InputError as err:
                    shown = {n: params[n] for n in (*names, *case)}
                    raise InputError(f"grid point {index} {shown}: {err}") from None
                out.append(point)
    return out


def _fingerprint(value: Any) -> str:
    def plain(v):
        if isinstance(v, np.ndarray):
            return [str(v.dtype), list(v.shape), hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in sorted(v.items())}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(value), sort_keys=True, default=str)


def group_key(prepared: Prepared) -> tuple:
    """Points with equal keys run as lanes of one compiled kernel: the same kernel (static
    configuration), the same values of every parameter that may not vary per lane, the same shapes
    of those that may."""
    kernel = prepared.kernel
    lane = {k: np.shape(v) for k, v in prepared.params.items() if k in kernel.lane_params}
    shared = {k: v for k, v in prepared.params.items() if k not in kernel.lane_params}
    return kernel, _fingerprint(shared), _fingerprint(lane), prepared.dtype


def plan_chunks(cfg: Mapping[str, Any], points: Sequence[Point]) -> list[dict[str, Any]]:
    """Chunks in run order: ``{"id", "group", "pieces": [[point, first_chain, chains], ...], "width"}``.

    Each chunk holds about ``chunk_seconds`` of work (from the family's cost model: nanoseconds
    per chain-generation on one core), or ``chunk_lanes`` lanes when the config fixes it, so a
    killed sweep loses at most one chunk's work at any scale. Every chunk of a group runs padded to
    the group's widest chunk: one compilation per group.
    """
    fam = family(cfg["family"])
    chains, G = cfg["chains"], cfg["generations"]
    groups: dict[tuple, list[int]] = {}
    for p in points:
        groups.setdefault(group_key(p.prepared), []).append(p.index)
    chunks: list[dict[str, Any]] = []
    for gi, members in enumerate(groups.values()):
        if cfg["chunk_lanes"] is not None:
            budget = cfg["chunk_lanes"]
        else:
            cost = max(fam.cost(points[members[0]].prepared), 1e-3) * G
            budget = max(1, int(cfg["chunk_seconds"] * 1e9 / cost))
        pieces: list[list[int]] = []
        room = budget
        for idx in members:
            first = 0
            while first < chains:
                n = min(chains - first, room)
                pieces.append([idx, first, n])
                first += n
                room -= n
                if room == 0:
                    chunks.append({"group": gi, "pieces": pieces})
                    pieces, room = [], budget
        if pieces:
            chunks.append({"group": gi, "pieces": pieces})
    width: dict[int, int] = {}
    columns: dict[int, int] = {}
    for c in chunks:
        width[c["group"]] = max(width.get(c["group"], 0), sum(n for _, _, n in c["pieces"]))
        columns[c["group"]] = max(columns.get(c["group"], 0), len({p for p, _, _ in c["pieces"]}))
    for i, c in enumerate(chunks):
        c["id"] = i
        c["width"] = width[c["group"]]
        c["columns"] = columns[c["group"]]
    return chunks


def describe_plan(cfg: Mapping[str, Any], points: Sequence[Point], chunks: Sequence[Mapping[str, Any]]) -> str:
    """What ``--dry-run`` prints: sizes, groups (compilations), chunks and the expected work."""
    fam = family(cfg["family"])
    lanes = len(points) * cfg["chains"]
    groups = len({c["group"] for c in chunks})
    seconds = sum(fam.cost(points[c["pieces"][0][0]].prepared) * cfg["generations"] * sum(n for _, _, n in c["pieces"])
                  for c in chunks) / 1e9
    rows = len(range(0, cfg["generations"] + 1, cfg["metrics_every"])) + 1
    per_chunk = max(c["width"] for c in chunks) * rows * len(cfg["metrics"]) * 4
    return (f"{cfg['family']} sweep: {len(points)} points x {cfg['chains']} chains = {lanes} lanes, "
            f"{cfg['generations']} generations, a metrics row every {cfg['metrics_every']}; {groups} compiled "
            f"group(s), {len(chunks)} chunk(s) of at most {max(c['width'] for c in chunks)} lanes "
            f"(~{per_chunk / 2**20:.3g} MiB of metrics each); expected work ~{_duration(seconds)} on one core")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["Point", "points_of", "plan_chunks", "group_key", "stream_seed", "varying", "describe_plan"]
