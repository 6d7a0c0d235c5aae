"""Figures of a GMM run: samples of the recorded mixtures next to the real data, the squared L2
distance to the generation-0 fit, and the components' spread and weights."""

from __future__ import annotations

import math

import jax
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..core import plots, streams
from ..core.results import SimulationResult
from .em import GMM, component_std, sample

SNAPSHOT_GENERATIONS = (0, 50, 100, 150, 200, 350, 2000)  # the notebook's
PANELS = 7  # scatter panels of generated data at most
FLOOR = 1e-12  # log axes: zero (row 0 of l2) is drawn at this floor


def recorded_mixture(result: SimulationResult, generation: int, chain: int = 0) -> GMM:
    """The mixture of a recorded chain at a recorded generation."""
    t = result.trajectory
    hit = np.flatnonzero(np.asarray(t["generation"]) == generation)
    if not hit.size:
        raise KeyError(f"generation {generation} was not recorded (record_every = {result.config['record_every']})")
    return GMM(*(np.asarray(t[name][hit[0], chain]) for name in GMM._fields))


def snapshot_samples(result: SimulationResult, generation: int, chain: int = 0, n: int | None = None) -> np.ndarray:
    """Points (n, d) drawn from a recorded generation's mixture (for scatter plots); the draws
    depend on the seed and the generation alone (the ``snapshot`` stream)."""
    gmm = recorded_mixture(result, generation, chain)
    n = result.config["real_samples"] if n is None else n
    key = jax.random.fold_in(streams.stream(streams.root_key(result.config["seed"]), "snapshot"), generation)
    return np.asarray(sample(key, gmm, n))


def _real_points(result: SimulationResult) -> tuple[np.ndarray, str]:
    cfg = result.config
    if cfg.get("true") is not None:
        true = GMM(*(np.asarray(cfg["true"][n], np.float32) for n in GMM._fields))
        key = streams.stream(streams.root_key(cfg["seed"]), "figure")
        return np.asarray(sample(key, true, cfg["real_samples"])), "real data (a draw)"
    return np.asarray(result.trajectory["real_data"]), "real data"


def scatter_generations(result: SimulationResult) -> list[int]:
    """The notebook's generations that were recorded and the last one; in a shorter run (fewer than
    four of them) up to seven recorded generations spread evenly."""
    recorded = np.asarray(result.trajectory["generation"])
    gens = [g for g in SNAPSHOT_GENERATIONS if g in recorded]
    last = int(recorded[-1])
    if len(gens) < 4:
        picks = np.unique(np.linspace(0, len(recorded) - 1, min(PANELS, len(recorded))).round().astype(int))
        return [int(g) for g in recorded[picks]]
    return gens if last in gens else gens + [last]


def _generation_axis(ax, rows: np.ndarray) -> None:
    """Integer ticks for generations; markers where there are few rows."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("generation")
    if len(rows) <= 20:
        for line in ax.get_lines():
            line.set_marker("o")
            line.set_markersize(3)


def plot_scatter(result: SimulationResult, path) -> None:
    cfg = result.config
    real, real_title = _real_points(result)
    panels = [(real_title, real, None)] + [(f"generation {g}", snapshot_samples(result, g), g)
                                           for g in scatter_generations(result)]
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plots.figure(ncol, nrow, width=3.0, height=3.6)
    centre = real.mean(axis=0)
    half = np.abs(real - centre).max() * 1.15
    cy = centre[1] if real.shape[1] > 1 else 0.0
    for ax, (name, pts, g) in zip(axes, panels):
        y = pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts))
        ax.scatter(pts[:, 0], y, s=3, alpha=0.5, color="C1" if g is None else "C0", lw=0)
        detail = None
        if g is not None:
            std = np.asarray(component_std(recorded_mixture(result, g)))
            detail = "component std " + ", ".join(f"{s:.2g}" for s in std)
        plots.title(ax, name, detail)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(cy - half, cy + half)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"GMM refitted on its own samples (chain 0): {_detail(result, chains=False)}", fontsize=10)
    plots.save(fig, path)


def _detail(result: SimulationResult, chains: bool = True) -> str:
    cfg = result.config
    proc = cfg["process"]
    sched = proc["schedule"]
    gamma = proc["gamma"]
    parts = [cfg["data"], f"K = {cfg['components']}", f"M = {sched['samples']}"
             + ("" if sched["kind"] == "constant" else f" ({sched['kind']})"), proc["workflow"]]
    if gamma not in (0, 0.0):
        parts.append(f"γ = {gamma}")
    if cfg["init"] != "kmeans++":
        parts.append(f"{cfg['init']} starts")
    if chains:
        parts.append(f"{result.chains} chains")
    return ", ".join(parts)


def plot_l2(result: SimulationResult, path) -> None:
    s = result.summary()["l2"]
    g = result.rows
    sel = g >= 1
    fig, (ax,) = plots.figure(width=6.0, height=4.0)
    floor = lambda v: np.maximum(np.asarray(v)[sel], FLOOR)  # noqa: E731
    ax.fill_between(g[sel], floor(s["q05"]), floor(s["q95"]), alpha=0.25, lw=0, label="5–95% of chains")
    ax.plot(g[sel], floor(s["mean"]), lw=1.6, label="mean")
    ax.plot(g[sel], floor(s["q50"]), "--", lw=1.0, label="median")
    ax.set(yscale="log", ylabel="‖fₜ − f₀‖² (squared L2 to generation 0)")
    _generation_axis(ax, g[sel])
    plots.title(ax, "GMM collapse: distance from the generation-0 fit", _detail(result))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    plots.save(fig, path)


def plot_components(result: SimulationResult, path) -> None:
    summary = result.summary()
    g = result.rows
    K = result.config["components"]
    fig, axes = plots.figure(2, 1, width=5.0, height=3.8)
    for k in range(K):
        for ax, name in zip(axes, ("std", "weight")):
            st = summary[f"{name}_{k}"]
            ax.fill_between(g, st["q05"], st["q95"], alpha=0.2, color=f"C{k}", lw=0)
            ax.plot(g, st["mean"], color=f"C{k}", lw=1.4, label=f"component {k + 1} by weight (mean)")
    spread = np.concatenate([summary[f"std_{k}"][q] for k in range(K) for q in ("q05", "q95")])
    spread = spread[np.isfinite(spread) & (spread > 0)]
    if spread.size and spread.max() > 10 * spread.min():  # a log axis only where it spans a decade
        axes[0].set_yscale("log")
    axes[0].set(ylabel="component std √(tr Σₖ / d)")
    plots.title(axes[0], "Spread of each component", "bands: 5–95% of chains")
    axes[1].set(ylabel="component weight", ylim=(0, 1))
    plots.title(axes[1], "Mixing weights", _detail(result))
    for ax in axes:  # legends below the panels: the bands fill every corner
        _generation_axis(ax, g)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(K, 3), frameon=False)
    plots.save(fig, path)


def plot(result: SimulationResult, out) -> None:
    """gmm_scatter.png (recorded chain 0), gmm_l2.png and gmm_std.png in ``out``."""
    recorded = result.trajectory.get("weights")
    if recorded is not None and recorded.shape[0] and recorded.shape[1]:  # snapshots of at least one chain
        plot_scatter(result, out / "gmm_scatter.png")
    if result.generations == 0:
        return
    plot_l2(result, out / "gmm_l2.png")
    plot_components(result, out / "gmm_std.png")


__all__ = ["plot", "plot_scatter", "plot_l2", "plot_components", "snapshot_samples", "recorded_mixture",
           "scatter_generations", "SNAPSHOT_GENERATIONS"]
