"""Figures of a Gaussian run: W₂² against its exact expectation and bounds, log-determinant
trajectories, schedules side by side, and the fitted ellipses (d = 2)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..core import plots
from ..core.results import SimulationResult
from .kernel import covariance_of


def _band(ax, x, mean, se, label, color=None):
    ok = np.isfinite(mean)
    sparse = 0 < ok.sum() < ok.size  # spectral metrics exist at some generations only (spectral_every)
    line, = ax.plot(x[ok], mean[ok], label=label, color=color, lw=1.6, marker="." if sparse else None, ms=4)
    if np.any(np.isfinite(se[ok])):
        ax.fill_between(x[ok], (mean - 2 * se)[ok], (mean + 2 * se)[ok], color=line.get_color(), alpha=0.25, lw=0)
    return line


def plot_w2(result: SimulationResult, path) -> None:
    plt = plots.plt
    summ = result.summary()
    x = result.rows
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    name = "w2" if "w2" in summ else "mean_sq"
    st = summ[name]
    _band(ax, x, st["mean"], st["se"], f"E W₂² (simulated ± 2 se)" if name == "w2" else "E‖μₙ − μ₀‖² (simulated)")
    ok = np.isfinite(st["q50"])
    ax.plot(x[ok], st["q50"][ok], color="tab:green", lw=1.0, label="median over chains")
    if "prediction" in st:
        ax.plot(x, st["prediction"], "k--", lw=1.2, label="exact prediction")
    heavy = np.asarray(st["heavy_tail"], bool)
    if heavy.any():
        first = int(x[np.argmax(heavy)])
        ax.axvspan(first, x[-1], color="tab:gray", alpha=0.08, lw=0)
        ax.text(0.98, 0.03, f"shaded (from generation {first}): the top 1% of chains carry over a quarter of\n"
                "the spread, so the sample mean is no check of its expectation (see the median)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="tab:gray")
    if "mean_sq" in summ and name == "w2":
        ms = summ["mean_sq"]
        if "prediction" in ms:
            ax.plot(x, ms["prediction"], ":", color="tab:gray", lw=1.2, label="E‖μₙ − μ₀‖² exact (lower bound)")
        if result.config["original"]["kind"] == "gaussian" and "prediction" in ms:
            tr0 = float(np.trace(np.asarray(result.config["original"]["cov"])))
            ax.plot(x, ms["prediction"] + 2 * tr0, ":", color="tab:red", lw=1.0, label="upper bound (+ 2 tr Σ₀)")
    ax.set_xlabel("generation n")
    ax.set_ylabel("W₂²(N(μₙ, Σₙ), N(μ₀, Σ₀))")
    cfg = result.config
    sched = cfg["process"]["schedule"]
    plots.title(ax, "W₂² to D₀ grows: Σₙ collapses while μₙ wanders",
                f"d = {cfg['dim']}, schedule {sched['kind']}, M₀ = {sched['samples']}, {cfg['estimator']}, "
                f"{result.chains} chains")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plots.save(fig, path)


def plot_logdet(result: SimulationResult, path, max_chains: int = 30) -> None:
    plt = plots.plt
    summ = result.summary()
    x = result.rows
    values = np.asarray(result.metrics["logdet"], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for c in range(min(max_chains, values.shape[1])):
        ax.plot(x, values[:, c], color="tab:blue", alpha=0.25, lw=0.7)
    st = summ["logdet"]
    _band(ax, x, st["mean"], st["se"], "mean over chains ± 2 se", color="tab:orange")
    if "prediction" in st:
        ax.plot(x, st["prediction"], "k--", lw=1.2, label="digamma drift ln det Σ₀ + n κ_d(M)")
    ax.set_xlabel("generation n")
    ax.set_ylabel("ln det Σₙ")
    ax.set_title(f"log-determinant trajectories ({min(max_chains, values.shape[1])} chains shown)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plots.save(fig, path)


def plot_schedules(comparison: Mapping[str, SimulationResult], path) -> None:
    plt = plots.plt
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    for spec, res in comparison.items():
        summ = res.summary()
        x = res.rows
        name = "w2" if "w2" in summ else "mean_sq"
        heavy = np.asarray(summ[name]["heavy_tail"], bool)
        label = spec if not heavy.any() else f"{spec} (mean carried by few chains from n = {int(x[np.argmax(heavy)])})"
        line = _band(axes[0], x, summ[name]["mean"], summ[name]["se"], label)
        if "prediction" in summ[name]:
            axes[0].plot(x, summ[name]["prediction"], "--", color=line.get_color(), lw=1.0)
        st = summ["logdet"]
        axes[1].plot(x, st["mean"], color=line.get_color(), label=spec)
    axes[0].set_ylabel("E W₂²" if "w2" in summ else "E‖μₙ − μ₀‖² (lower bound on E W₂²)")
    axes[0].set_title("error: bounded only when Σ 1/Mᵢ converges (dashed: exact)", fontsize=9)
    axes[1].set_ylabel("E ln det Σₙ")
    axes[1].set_title("collapse of the covariance", fontsize=9)
    for ax in axes:
        ax.set_xlabel("generation n")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    plots.save(fig, path)


def default_ellipse_generations(G: int) -> list[int]:
    gens = sorted({0, 1, max(1, G // 10), max(1, G // 3), G})
    return [g for g in gens if 0 <= g <= G]


def plot_ellipses(result: SimulationResult, path, generations: Sequence[int] | None = None) -> None:
    """2-σ ellipses of the recorded chains' fits at chosen generations (d = 2), one panel per
    generation, each on its own scale (the ellipses shrink by orders of magnitude)."""
    plt = plots.plt
    traj = result.trajectory
    recorded = np.asarray(traj["generation"])
    wanted = generations or default_ellipse_generations(result.generations)
    gens = [int(recorded[np.argmin(np.abs(recorded - g))]) for g in wanted]  # nearest recorded generation
    gens = sorted(set(gens))
    fig, axes = plt.subplots(1, len(gens), figsize=(2.8 * len(gens), 3.0), squeeze=False)
    theta = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(theta), np.sin(theta)])
    mean0 = np.asarray(result.config["original"]["mean"])
    cov0 = np.asarray(result.config["original"]["cov"])
    for ax, g in zip(axes[0], gens):
        i = int(np.flatnonzero(recorded == g)[0])
        mus = np.asarray(traj["mean"][i], dtype=np.float64)
        covs = covariance_of(traj["unit_lower"][i], traj["log_chol_diag"][i])
        for c in range(mus.shape[0]):
            L = np.linalg.cholesky(covs[c] + 0.0) if np.all(np.linalg.eigvalsh(covs[c]) > 0) else np.zeros((2, 2))
            pts = mus[c][:, None] + 2 * L @ circle
            ax.plot(pts[0], pts[1], lw=1.0, alpha=0.8)
            ax.plot(*mus[c], "k.", ms=3)
        L0 = np.linalg.cholesky(cov0)
        ref = mean0[:, None] + 2 * L0 @ circle
        if g == 0:
            ax.plot(ref[0], ref[1], "k--", lw=1.0)
        ax.set_title(f"generation {g}", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.tick_params(labelsize=7)
    fig.suptitle("fitted 2σ ellipses of the first chains (each panel its own scale)", fontsize=9)
    plots.save(fig, path)


def plot(result: SimulationResult, out, comparison: Mapping[str, SimulationResult] | None = None,
         ellipse_generations: Sequence[int] | None = None) -> None:
    """w2.png, logdet.png, schedules.png (with ``comparison``) and ellipses.png (d = 2) in ``out``."""
    if result.generations == 0:
        return
    plot_w2(result, out / "w2.png")
    plot_logdet(result, out / "logdet.png")
    if comparison:
        plot_schedules(comparison, out / "schedules.png")
    if result.config["dim"] == 2 and result.trajectory:
        plot_ellipses(result, out / "ellipses.png", ellipse_generations)


__all__ = ["plot", "plot_w2", "plot_logdet", "plot_schedules", "plot_ellipses", "default_ellipse_generations"]
