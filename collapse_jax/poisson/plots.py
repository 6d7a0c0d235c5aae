"""Figures of a Poisson run: rate paths against the exact mean and spread, and the share of chains
not yet absorbed at λ = 0 against its exact law (and Suresh et al.'s bounds)."""

from __future__ import annotations

import numpy as np

from ..core import plots
from ..core.results import SimulationResult
from .theory import survival_bounds

PATHS = 40  # chains drawn as thin lines


def _subtitle(result: SimulationResult) -> str:
    cfg, proc = result.config, result.config["process"]
    sched = proc["schedule"]
    size = f"M={sched['samples']}" if sched["kind"] == "constant" else f"M₀={sched['samples']} ({sched['kind']})"
    gamma = proc["gamma"]
    mix = "" if gamma in (0, 0.0) else f", γ={gamma}"
    return f"λ₀={cfg['rate0']:g}, {size}, {proc['workflow']}{mix}, {result.chains} chains"


def plot_rate(result: SimulationResult, path) -> None:
    g = result.rows
    rates = np.asarray(result.metrics["rate"], np.float64)
    st = result.summary()["rate"]
    fig, (ax,) = plots.figure(width=6.0, height=4.0)
    for c in range(min(PATHS, rates.shape[1])):
        ax.plot(g, rates[:, c], color="tab:blue", alpha=0.25, lw=0.6)
    ax.plot([], [], color="tab:blue", alpha=0.5, lw=0.6, label=f"λ_t of {min(PATHS, rates.shape[1])} chains")
    plots.band(ax, g, st, "simulated λ_t", color="tab:orange", prediction_label="exact E λ_t")
    ax.set(xlabel="generation t", ylabel="fitted rate λ_t", ylim=(0, None))
    plots.title(ax, "Rates wander and are absorbed at 0 while E λ_t stays λ₀", _subtitle(result))
    ax.legend(fontsize=7, loc="upper left")
    plots.save(fig, path)


def plot_absorption(result: SimulationResult, path) -> None:
    g = result.rows
    st = result.summary()["absorbed"]
    alive, se = 1.0 - st["mean"], st["se"]
    fig, (ax,) = plots.figure(width=6.0, height=4.0)
    ok = (g > 0) & (alive > 0)
    ax.plot(g[ok], alive[ok], color="tab:green", lw=1.6, label="simulated P(λ_t ≠ 0)")
    ax.fill_between(g[ok], np.maximum(alive - 2 * se, 1e-12)[ok], (alive + 2 * se)[ok], color="tab:green",
                    alpha=0.3, lw=0, label="± 2 se")
    if "prediction" in st:
        ax.plot(g[g > 0], 1.0 - st["prediction"][g > 0], "k--", lw=1.1, label="exact 1 − P(λ_t = 0)")
    proc = result.config["process"]
    if proc["schedule"]["kind"] == "constant" and proc["workflow"] == "replace" and proc["gamma"] in (0, 0.0):
        lo, hi = survival_bounds(proc["schedule"]["samples"], result.config["rate0"], g[g > 0])
        ax.fill_between(g[g > 0], lo, np.minimum(hi, 1.0), color="tab:gray", alpha=0.15, lw=0,
                        label=r"Suresh et al.'s bounds $1-e^{-M\lambda_0/t}$ to $1-e^{-3M\lambda_0/t}$")
    ax.set(xlabel="generation t", ylabel="share of chains with λ_t ≠ 0", yscale="log")
    if ok.any():
        ax.set_xlim(0, g[-1])
    plots.title(ax, "Absorption at λ = 0", _subtitle(result))
    ax.legend(fontsize=7, loc="lower left")
    plots.save(fig, path)


def plot(result: SimulationResult, out) -> None:
    """rate.png and absorption.png in ``out``."""
    if result.generations == 0:
        return
    plot_rate(result, out / "rate.png")
    plot_absorption(result, out / "absorption.png")


__all__ = ["plot", "plot_rate", "plot_absorption"]
