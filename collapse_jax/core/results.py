"""The result every simulation returns, its Monte Carlo summary, and its run directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import rundir, stats

SUMMARY_COLUMNS = ["generation", "metric", "mean", "se", "q05", "q50", "q95", "prediction", "z", "tail_share",
                   "heavy_tail"]


@dataclass
class SimulationResult:
    """What a simulation hands back.

    ``metrics[name]`` has shape (rows, chains): row r is the model after ``rows[r]`` generations
    (row 0 the original distribution; by default every generation has a row). ``predictions[name]``
    is the exact closed-form expectation of that metric at each row, where one exists. ``events``
    holds per-chain values of shape (chains,), such as the generation of absorption (-1 if not
    absorbed). ``final`` holds the final model of every chain; ``trajectory`` snapshots every
    ``config['record_every']`` generations (``trajectory['generation']`` says which).
    A run stopped by Ctrl-C has ``config['generations_done']`` < ``config['process']['generations']``.
    """

    family: str
    config: dict[str, Any]
    metrics: dict[str, np.ndarray]
    final: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    trajectory: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None
    unbounded: tuple[str, ...] = ()  # metrics whose means may be carried by a few chains (core.stats)

    def __post_init__(self) -> None:
        if self.rows is None:
            n = next(iter(self.metrics.values())).shape[0] if self.metrics else 1
            self.rows = np.arange(n)
        self.rows = np.asarray(self.rows, dtype=np.int64)

    @property
    def generations(self) -> int:
        """Generations simulated (the last row)."""
        return int(self.rows[-1])

    @property
    def chains(self) -> int:
        return next(iter(self.metrics.values())).shape[1]

    @property
    def complete(self) -> bool:
        return "generations_done" not in self.config

    def row(self, generation: int) -> int:
        """The metrics row of ``generation`` (which must have one)."""
        hit = np.flatnonzero(self.rows == generation)
        if not hit.size:
            raise KeyError(f"generation {generation} has no metrics row (rows are every "
                           f"{self.config.get('metrics_every', 1)} generations)")
        return int(hit[0])

    @cached_property
    def _summary(self) -> dict[str, dict[str, np.ndarray]]:
        out = {}
        for name, values in self.metrics.items():
            s = stats.summarise(values, unbounded=name in self.unbounded)
            if name in self.predictions:
                s["prediction"] = np.asarray(self.predictions[name], dtype=np.float64)
                s["z"] = stats.z_score(s["mean"], s["se"], s["prediction"])
            out[name] = s
        return out

    def summary(self) -> dict[str, dict[str, np.ndarray]]:
        """Per metric and row: mean, se, quantiles, ``tail_share`` and ``heavy_tail`` (see
        :mod:`collapse_jax.core.stats`), and ``prediction``/``z`` where a closed form exists."""
        return self._summary

    def heavy_tail_rows(self, name: str) -> np.ndarray:
        """Generations at which ``name``'s mean is carried by a few chains (not a check of theory)."""
        return self.rows[self.summary()[name]["heavy_tail"]]

    def summary_rows(self) -> tuple[list[str], list[list[Any]]]:
        """The summary as a long table: one row per (generation, metric)."""
        rows = []

        def num(v):
            return None if v is None or not np.isfinite(v) else float(v)

        for name, s in self.summary().items():
            pred = s.get("prediction")
            for r, g in enumerate(self.rows):
                rows.append([int(g), name, float(s["mean"][r]), num(s["se"][r]), float(s["q05"][r]),
                             float(s["q50"][r]), float(s["q95"][r]),
                             None if pred is None else float(pred[r]),
                             None if pred is None else num(s["z"][r]), num(s["tail_share"][r]),
                             int(s["heavy_tail"][r])])
        return list(SUMMARY_COLUMNS), rows

    def save(
        self,
        path: "str | os.PathLike | rundir.RunDir",
        *,
        overwrite: bool = False,
        plot: Callable[["SimulationResult", "rundir.RunDir"], None] | None = None,
    ) -> Path:
        """Write the run directory: config.json, metrics.npz, summary.csv, events/final arrays, plots.

        ``path`` is a folder (claimed with :func:`rundir.claim`: a folder that holds files this
        project did not write is refused, even with ``overwrite``) or an already claimed RunDir."""
        out = path if isinstance(path, rundir.RunDir) else rundir.claim(path, self.family, overwrite=overwrite,
                                                                         flag="run directory")
        rundir.atomic_write_json(out / "config.json", {**self.config, "family": self.family,
                                                       "versions": rundir.versions()})
        rundir.atomic_write_npz(out / "metrics.npz", {**self.metrics, "generation": self.rows})
        header, rows = self.summary_rows()
        rundir.atomic_write_csv(out / "summary.csv", header, rows)
        if self.final or self.events:
            rundir.atomic_write_npz(out / "final.npz", {**self.final, **self.events})
        if self.trajectory:
            rundir.atomic_write_npz(out / "trajectory.npz", self.trajectory)
        if plot is not None:
            plot(self, out)
        return out.path


def terminal_summary(result: SimulationResult, names: list[str], at: list[int] | None = None) -> list[str]:
    """Lines for the terminal: mean ± se (and the exact value) of ``names`` at a few generations,
    with heavy-tailed rows said to be so instead of printing a misleading comparison."""
    g = result.generations
    rows = result.rows
    if at is None:
        at = sorted({int(rows[np.searchsorted(rows, t)]) for t in (g // 4, g // 2, g)}) if g >= 4 else rows.tolist()
    lines = []
    for name in names:
        if name not in result.metrics:
            continue
        s = result.summary()[name]
        parts = []
        for t in at:
            r = result.row(t)
            pred = s.get("prediction")
            text = f"t={t}: {s['mean'][r]:.4g}" + (f"±{s['se'][r]:.2g}" if np.isfinite(s["se"][r]) else "")
            if s["heavy_tail"][r]:
                text += f" (heavy tail: the top 1% of chains carry {s['tail_share'][r]:.0%}; median {s['q50'][r]:.4g})"
            elif pred is not None:
                text += f" (exact {pred[r]:.4g})"
            parts.append(text)
        lines.append(f"  {name:13s} " + "; ".join(parts))
    return lines


__all__ = ["SimulationResult", "SUMMARY_COLUMNS", "terminal_summary"]
