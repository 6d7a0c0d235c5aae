"""Figure of a regression run: the test error against its exact expectation, with Gerstgrasser et
al.'s replace line and accumulate bound where they apply."""

from __future__ import annotations

import numpy as np

from ..core import plots
from ..core.results import SimulationResult
from .theory import accumulate_bound, replace_linear

PATHS = 30  # chains drawn as thin lines


def plot_test_error(result: SimulationResult, path) -> None:
    cfg, proc = result.config, result.config["process"]
    g = result.rows
    values = np.asarray(result.metrics["test_error"], np.float64)
    fig, (ax,) = plots.figure(width=6.0, height=4.0)
    for c in range(min(PATHS, values.shape[1])):
        ax.plot(g, values[:, c], color="tab:blue", alpha=0.15, lw=0.6)
    plots.band(ax, g, result.summary()["test_error"], "simulated ‖ŵ − w*‖²", color="tab:orange",
               prediction_label="exact E ‖ŵ_t − w*‖²")
    d, sched, sigma = cfg["dim"], proc["schedule"], cfg["noise"]
    plain = (sched["kind"] == "constant" and proc["gamma"] in (0, 0.0) and cfg["ridge"] == 0
             and isinstance(sigma, (int, float)) and sched["samples"] > d + 1)
    if plain and proc["workflow"] == "replace":
        ax.plot(g, replace_linear(g, d, sched["samples"], sigma), ":", color="tab:red", lw=1.2,
                label="n σ² d/(T − d − 1) (Gerstgrasser et al.)")
    if plain and proc["workflow"] == "accumulate":
        ax.axhline(accumulate_bound(d, sched["samples"], sigma), ls=":", color="tab:red", lw=1.2,
                   label="σ² d/(T − d − 1) · π²/6 (the limit, averaged over designs)")
    top = np.nanquantile(values, 0.95, axis=1).max()
    ax.set(xlabel="generation t", ylabel="test error ‖ŵ_t − w*‖²", ylim=(0, 1.15 * top))
    size = f"T={sched['samples']}" if sched["kind"] == "constant" else f"T₀={sched['samples']} ({sched['kind']})"
    ridge = f", ridge λ={cfg['ridge']:g}" if cfg["ridge"] else ""
    gamma = "" if proc["gamma"] in (0, 0.0) else f", γ={proc['gamma']}"
    plots.title(ax, f"Test error under {proc['workflow']}",
                f"d={d}, {size}, σ={sigma}, {cfg['design']} design{ridge}{gamma}, {result.chains} chains")
    ax.legend(fontsize=7, loc="upper left")
    plots.save(fig, path)


def plot(result: SimulationResult, out) -> None:
    """test_error.png in ``out``."""
    if result.generations == 0:
        return
    plot_test_error(result, out / "test_error.png")


__all__ = ["plot", "plot_test_error"]
