"""The tidy table of a finished sweep: one row per (point, recorded generation, metric).

Columns: the point's parameters, then mean, standard error, quantiles, the closed-form prediction
where one exists (and its kind: exact or an approximation), its z-score, and the heavy-tail
diagnostic of :mod:`collapse_jax.core.stats` (a flagged row's mean is carried by a few chains and
is no check of its expectation). Per-chain events (e.g. absorption times) get two rows each: the
fraction of chains where the event happened, and the mean over those chains.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import rundir, stats
from ..core.errors import require
from .config import family
from .plan import Point, plan_chunks, points_of
from .store import chunk_path, fingerprint, read_chunk, read_manifest

TABLE_COLUMNS = ("generation", "metric", "chains", "mean", "se", "q05", "q50", "q95", "prediction",
                 "prediction_kind", "z", "tail_share", "heavy_tail")
NOT_METRICS = ("point", "chain", "fingerprint", "chunk_id", "generation")


@dataclass
class SweepResult:
    """A finished sweep: its directory, config, points and the long summary table (list of dicts)."""

    out: Path
    config: dict[str, Any]
    points: list[Point]
    rows: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        return np.asarray([r[name] for r in self.rows])

    def select(self, metric: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of one metric whose point parameters match ``params``."""
        return [r for r in self.rows if r["metric"] == metric and all(r.get(k) == v for k, v in params.items())]

    def curve(self, metric: str, point: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One point's summary of ``metric`` against generation."""
        rows = [r for r in self.rows if r["metric"] == metric and r["point"] == point]
        g = np.asarray([r["generation"] for r in rows], np.float64)
        cols = {c: np.asarray([np.nan if r[c] in ("", None) else r[c] for r in rows], np.float64)
                for c in ("mean", "se", "q05", "q50", "q95", "prediction", "tail_share")}
        cols["heavy_tail"] = np.asarray([bool(r["heavy_tail"]) for r in rows], bool)
        return g, cols


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def point_rows(cfg: Mapping[str, Any], pt: Point, data: Mapping[str, np.ndarray],
               rows: np.ndarray) -> list[dict[str, Any]]:
    """The table rows of one point from its chains' values (metrics (rows, chains), events (chains,))."""
    fam = family(cfg["family"])
    base = {"point": pt.index, "seed": pt.seed, "rng_seed": pt.rng_seed, **flat_params(pt.params)}
    preds = fam.predictions(pt.prepared, rows)
    out = []
    for name in cfg["metrics"]:
        if name not in data:
            continue
        values = np.asarray(data[name], np.float64)
        s = stats.summarise(values, unbounded=name in fam.unbounded)
        pred, kind = preds.get(name, (None, ""))
        z = stats.z_score(s["mean"], s["se"], pred) if pred is not None else None
        for i, g in enumerate(rows):
            out.append({**base, "generation": int(g), "metric": name, "chains": values.shape[1],
                        "mean": float(s["mean"][i]), "se": _num(s["se"][i]), "q05": float(s["q05"][i]),
                        "q50": float(s["q50"][i]), "q95": float(s["q95"][i]),
                        "prediction": None if pred is None else float(pred[i]),
                        "prediction_kind": kind if pred is not None else "",
                        "z": None if z is None else _num(z[i]), "tail_share": _num(s["tail_share"][i]),
                        "heavy_tail": int(s["heavy_tail"][i])})
    G = cfg["generations"]
    for label, at in ((k, v) for k, v in data.items() if k not in cfg["metrics"] and k not in NOT_METRICS):
        at = np.asarray(at)
        hit = at[at >= 0].astype(np.float64)
        frac = hit.size / at.size
        out.append({**base, "generation": G, "metric": f"{label}_fraction", "chains": at.size, "mean": frac,
                    "se": math.sqrt(frac * (1 - frac) / max(at.size - 1, 1)), "q05": None, "q50": None,
                    "q95": None, "prediction": None, "prediction_kind": "", "z": None, "tail_share": None,
                    "heavy_tail": 0})
        if hit.size:
            s = stats.summarise(hit[None], unbounded=False)
            pred, kind = preds.get(label, (None, "")) if hit.size == at.size else (None, "")
            p = None if pred is None else float(pred[0])
            z = None if p is None else _num(stats.z_score(s["mean"], s["se"], p)[0])
            out.append({**base, "generation": G, "metric": label, "chains": hit.size, "mean": float(s["mean"][0]),
                        "se": _num(s["se"][0]), "q05": float(s["q05"][0]), "q50": float(s["q50"][0]),
                        "q95": float(s["q95"][0]), "prediction": p, "prediction_kind": kind if p is not None else "",
                        "z": z, "tail_share": _num(s["tail_share"][0]), "heavy_tail": int(s["heavy_tail"][0])})
    return out


def flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in params.items()}


def finalize(out: "rundir.RunDir", cfg: Mapping[str, Any], points: Sequence[Point],
             chunks: Sequence[Mapping[str, Any]], run_stats: dict[str, Any] | None = None) -> SweepResult:
    """Read every chunk, summarise each point (its chains merged across chunks), write the tables."""
    fp = fingerprint(cfg)
    pending: dict[int, list[dict[str, np.ndarray]]] = {}
    remaining = {p.index: cfg["chains"] for p in points}
    table: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for c in chunks:
        data = read_chunk(chunk_path(out, c["id"]), c, fp)
        rows = data["generation"]
        for idx, first, n in c["pieces"]:
            sel = np.flatnonzero((data["point"] == idx) & (data["chain"] >= first) & (data["chain"] < first + n))
            pending.setdefault(idx, []).append({k: v[..., sel] for k, v in data.items() if k not in NOT_METRICS})
            remaining[idx] -= n
            if remaining[idx] == 0:
                parts = pending.pop(idx)
                merged = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
                table.extend(point_rows(cfg, points[idx], merged, rows))
    param_cols = list(family(cfg["family"]).defaults)
    header = ["point", "seed", "rng_seed", *param_cols, *TABLE_COLUMNS]
    rundir.atomic_write_csv(out / "summary.csv", header, ([r.get(h) for h in header] for r in table))
    rundir.atomic_write_csv(out / "points.csv", ["point", "seed", "rng_seed", *param_cols],
                            ([p.index, p.seed, p.rng_seed, *flat_params(p.params).values()] for p in points))
    wrote = ["summary.csv", "points.csv"]
    if _write_parquet(out / "summary.parquet", header, table):
        wrote.append("summary.parquet")
    run_stats = dict(run_stats or {})
    run_stats["finalize_s"] = time.perf_counter() - t0
    return SweepResult(Path(out), dict(cfg), list(points), table, {**run_stats, "wrote": wrote})


def _write_parquet(path: Path, header: Sequence[str], table: Sequence[Mapping[str, Any]]) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # an optional format: written when pyarrow is installed
        return False
    cols = {h: [r.get(h) for r in table] for h in header}
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    rundir.atomic_write_bytes(path, buf.getvalue())
    return True


def _reopen(out: "str | os.PathLike"):
    cfg = read_manifest(out)["config"]
    points = points_of(cfg)
    return cfg, points, plan_chunks(cfg, points)


def load(out: "str | os.PathLike") -> SweepResult:
    """Reopen a finished sweep directory (re-reads the chunks and rebuilds the table)."""
    cfg, points, chunks = _reopen(out)
    missing = [c["id"] for c in chunks if not chunk_path(Path(out), c["id"]).exists()]
    require(not missing, f"sweep {out} is unfinished: {len(missing)} of {len(chunks)} chunks missing; run it again")
    run = rundir.claim(out, "sweep", resume=True, flag="sweep directory", legacy="sweep.json")
    return finalize(run, cfg, points, chunks)


def load_chains(out: "str | os.PathLike", point: int) -> dict[str, np.ndarray]:
    """The raw per-chain arrays of one point: metrics (recorded generations × chains), events."""
    cfg, points, chunks = _reopen(out)
    fp = fingerprint(cfg)
    parts, rows = [], None
    for c in chunks:
        if any(p == point for p, _, _ in c["pieces"]):
            data = read_chunk(chunk_path(Path(out), c["id"]), c, fp)
            sel = np.flatnonzero(data["point"] == point)
            parts.append({k: v[..., sel] for k, v in data.items() if k not in NOT_METRICS or k == "chain"})
            rows = data["generation"]
    require(bool(parts), f"no point {point} in sweep {out}")
    merged = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    merged["generation"] = rows
    return merged


__all__ = ["SweepResult", "finalize", "load", "load_chains", "point_rows", "flat_params", "TABLE_COLUMNS"]
