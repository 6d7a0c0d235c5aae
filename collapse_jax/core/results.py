"""The result every simulation returns, its Monte Carlo summary, and its run directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import rundir

QUANTILES = (0.05, 0.5, 0.95)


def mean_and_se(values_GxC: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over chains and its standard error, per generation (NaN standard error for one chain)."""
    x = np.asarray(values_GxC, dtype=np.float64)
    chains = x.shape[-1]
    mean = x.mean(axis=-1)
    if chains < 2:
        return mean, np.full_like(mean, np.nan)
    with np.errstate(invalid="ignore"):  # inf - inf where a metric is infinite in every chain
        se = x.std(axis=-1, ddof=1) / np.sqrt(chains)
    return mean, se


@dataclass
class SimulationResult:
    """What a simulation hands back.

    ``metrics[name]`` has shape (generations + 1, chains): row 0 is the original distribution,
    row t the model after t generations. ``predictions[name]`` is the exact closed-form expectation
    of that metric per generation, where one exists. ``events`` holds per-chain values of shape
    (chains,), such as the generation of absorption (-1 if not absorbed). ``final`` holds the final
    model state per chain; ``trajectory`` optional snapshots every ``config['record_every']``.
    """

    family: str
    config: dict[str, Any]
    metrics: dict[str, np.ndarray]
    final: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)
    trajectory: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def generations(self) -> int:
        return next(iter(self.metrics.values())).shape[0] - 1

    @property
    def chains(self) -> int:
        return next(iter(self.metrics.values())).shape[1]

    def summary(self) -> dict[str, dict[str, np.ndarray]]:
        """Per metric: mean, standard error and quantiles over chains, per generation."""
        out = {}
        for name, values in self.metrics.items():
            mean, se = mean_and_se(values)
            stats = {"mean": mean, "se": se}
            with np.errstate(invalid="ignore"):  # KL is +inf once a state is lost: inf - inf inside quantile
                qs = np.quantile(np.asarray(values, dtype=np.float64), QUANTILES, axis=-1)
            for q, row in zip(QUANTILES, qs):
                stats[f"q{int(q * 100):02d}"] = row
            if name in self.predictions:
                stats["prediction"] = np.asarray(self.predictions[name], dtype=np.float64)
            out[name] = stats
        return out

    def summary_rows(self) -> tuple[list[str], list[list[Any]]]:
        """The summary as a long table: one row per (generation, metric)."""
        header = ["generation", "metric", "mean", "se", "q05", "q50", "q95", "prediction", "z"]
        rows = []
        for name, stats in self.summary().items():
            for g in range(self.generations + 1):
                pred = stats.get("prediction")
                p = float(pred[g]) if pred is not None else None
                z = None
                if p is not None and np.isfinite(stats["se"][g]) and stats["se"][g] > 0:
                    z = float((stats["mean"][g] - p) / stats["se"][g])
                rows.append([g, name, float(stats["mean"][g]), float(stats["se"][g]),
                             float(stats["q05"][g]), float(stats["q50"][g]), float(stats["q95"][g]), p, z])
        return header, rows

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
        rundir.atomic_write_npz(out / "metrics.npz", self.metrics)
        header, rows = self.summary_rows()
        rundir.atomic_write_csv(out / "summary.csv", header, rows)
        if self.final or self.events:
            rundir.atomic_write_npz(out / "final.npz", {**self.final, **self.events})
        if self.trajectory:
            rundir.atomic_write_npz(out / "trajectory.npz", self.trajectory)
        if plot is not None:
            plot(self, out)
        return out.path
