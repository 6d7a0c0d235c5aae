"""Figures of a discrete run: diversity against its exact decay, surviving states, absorption
times and the vanishing tails."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..core import plots
from ..core.results import SimulationResult
from .theory import absorption_time_diffusion


def plot(result: SimulationResult, out) -> None:
    """gini_simpson.png, surviving.png, absorption_time.png and final_distribution.png in ``out``."""
    summary = result.summary()
    g = result.rows
    cfg = result.config
    proc = cfg["process"]

    fig, (ax,) = plots.figure()
    h0 = summary["gini_simpson"]["mean"][0]
    stats = {k: (v / h0 if k in ("mean", "se", "q05", "q50", "q95", "prediction") else v)
             for k, v in summary["gini_simpson"].items()}
    plots.band(ax, g, stats, "simulated H_t / H_0",
               prediction_label="exact E H_t / H_0" if "prediction" in stats else None)
    ax.set(xlabel="generation", ylabel="Gini–Simpson H_t / H_0", yscale="log")
    plots.title(ax, "Diversity decays as Π(1 − 1/M_i)", f"K={cfg['states']}, {proc['workflow']}")
    ax.legend(fontsize=8)
    plots.save(fig, out / "gini_simpson.png")

    fig, (ax,) = plots.figure()
    plots.band(ax, g, summary["surviving"], "surviving states",
               prediction_label="exact E (transition matrices)")
    ax.set(xlabel="generation", ylabel="states with p > 0")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    plots.title(ax, "Surviving states", f"K={cfg['states']}, M={proc['schedule']['samples']}")
    ax.legend(fontsize=8)
    plots.save(fig, out / "surviving.png")

    _absorption(result, cfg, proc, out)
    fig, (ax,) = plots.figure()
    p0 = np.asarray(cfg["p0"])
    order = np.argsort(-p0)
    rank = np.arange(1, p0.size + 1)
    final = result.final["p"][:, order]
    for row in final[: min(20, final.shape[0])]:
        ax.scatter(rank[row > 0], row[row > 0], s=4, color="C0", alpha=0.25)
    ax.plot(rank, p0[order], "k-", lw=1.5, label="p_0")
    ax.set(xscale="log", yscale="log", xlabel="state rank under p_0", ylabel="probability (dots: 20 chains)")
    alive = ax.twinx()
    alive.plot(rank, (final > 0).mean(0), color="C3", lw=1.5, label="share of chains where the state survives")
    alive.set(ylim=(0, 1.02), ylabel="share of chains where it survives")
    alive.yaxis.label.set_color("C3")
    plots.title(ax, "Tails vanish first", f"p_0 against the distributions after {result.generations} generations")
    lines = ax.get_legend_handles_labels()[0] + alive.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], fontsize=8, loc="lower left")
    plots.save(fig, out / "final_distribution.png")


def _absorption(result: SimulationResult, cfg, proc, out) -> None:
    fig, (ax,) = plots.figure()
    absorbed = result.events["absorbed_at"]
    hit = absorbed[absorbed >= 0]
    pure = (proc["schedule"]["kind"] == "constant" and proc["workflow"] == "replace" and proc["gamma"] == 0
            and proc["beta"] == 0)
    t_abs = absorption_time_diffusion(np.asarray(cfg["p0"]), proc["schedule"]["samples"]) if pure else None
    if hit.size:
        ax.hist(hit, bins=min(60, max(10, hit.size // 20)), color="C3", alpha=0.8, label="absorbed chains")
        if t_abs is not None and t_abs <= 1.5 * result.generations:
            ax.axvline(t_abs, color="k", ls="--", label=f"diffusion mean {t_abs:.0f}")
        ax.legend(fontsize=8)
    else:
        ax.set_xlim(0, max(result.generations, 1))
        ax.set_yticks([])
    note = f"{hit.size} of {absorbed.size} chains absorbed by generation {result.generations}"
    if t_abs is not None and (not hit.size or t_abs > 1.5 * result.generations):
        note += f"\n(diffusion mean absorption time {t_abs:.0f} generations)"
    if not hit.size:
        ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="generation of absorption", ylabel="chains")
    plots.title(ax, "Absorption times", note.split("\n")[0] if hit.size else None)
    plots.save(fig, out / "absorption_time.png")


__all__ = ["plot"]
