"""Figures of a KDE run: the variance and the mean's drift of the fitted KDEs against their exact
expectations."""

from __future__ import annotations

import numpy as np

from ..core import plots
from ..core.results import SimulationResult
from .theory import fixed_bandwidth_replace


def plot_moments(result: SimulationResult, path) -> None:
    cfg, proc = result.config, result.config["process"]
    g = result.rows
    summary = result.summary()
    fig, axes = plots.figure(ncols=2, width=5.0, height=3.8)
    d = cfg["dim"]
    var_label = "tr Cov of the KDE" if d > 1 else "variance of the KDE"
    panels = (("variance", var_label, f"exact E {var_label}"),
              ("mean_sq", "‖mean of the KDE − mean₀‖²", "exact E ‖mean − mean₀‖²"))
    for ax, (name, label, exact) in zip(axes, panels):
        plots.band(ax, g, summary[name], "simulated", color="tab:blue", prediction_label=exact)
        ax.set(xlabel="generation t", ylabel=label)
        ax.legend(fontsize=7, loc="upper left")
    sched, h = proc["schedule"], cfg["bandwidth"]
    plain = (isinstance(h, (int, float)) and sched["kind"] == "constant" and proc["workflow"] == "replace"
             and proc["gamma"] in (0, 0.0))
    if plain:  # the stationary variance M d h² the fixed-bandwidth recursion tends to
        limit = fixed_bandwidth_replace(0.0, h, sched["samples"], np.inf, d)
        axes[0].axhline(limit, ls=":", color="tab:red", lw=1.0, label="t → ∞ limit M d h²")
        axes[0].legend(fontsize=7, loc="upper left")
    bw = f"h={h:g}" if isinstance(h, (int, float)) else f"bandwidth {h}"
    size = f"M={sched['samples']}" if sched["kind"] == "constant" else f"M₀={sched['samples']} ({sched['kind']})"
    gamma = "" if proc["gamma"] in (0, 0.0) else f", γ={proc['gamma']}"
    detail = f"d={d}, {bw}, {size}, {proc['workflow']}{gamma}, {result.chains} chains"
    plots.title(axes[0], "Spread of the refitted KDE", detail)
    plots.title(axes[1], "Drift of its mean", f"D₀: {cfg['original']['kind']}")
    plots.save(fig, path)


def plot(result: SimulationResult, out) -> None:
    """moments.png in ``out``."""
    if result.generations == 0:
        return
    plot_moments(result, out / "moments.png")


__all__ = ["plot", "plot_moments"]
