"""A sweep's figures: the experiment's own (experiments/), or a generic one per metric."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

from ..core import plots
from .plan import varying
from .table import SweepResult

MAX_LINES = 24  # beyond this many points a line plot is unreadable: the figure says how many it shows


def plot_generic(result: SweepResult, directory, metric: str | None = None) -> Path:
    """Mean ± 2 se of one metric against generation, one line per point (distinct colours, the
    legend beside the axes), dotted closed forms where they exist."""
    metric = metric or result.config["metrics"][0]
    keys = varying(result.config)
    shown = result.points[:MAX_LINES]
    colors = plots.plt.get_cmap("viridis" if len(shown) > 10 else "tab10")(np.linspace(0, 1, len(shown))
                                                                              if len(shown) > 10 else range(len(shown)))
    fig, (ax,) = plots.figure(width=7.5, height=4.2)
    for pt, color in zip(shown, colors):
        g, c = result.curve(metric, pt.index)
        label = ", ".join(f"{k}={pt.params[k]}" for k in keys) or f"point {pt.index}"
        ax.plot(g, c["mean"], lw=1.2, color=color, label=label)
        ax.fill_between(g, c["mean"] - 2 * c["se"], c["mean"] + 2 * c["se"], color=color, alpha=0.2, lw=0)
        if np.isfinite(c["prediction"]).any():
            ax.plot(g, c["prediction"], ":", color="k", lw=0.8)
    detail = f"{len(result.points)} points" if len(shown) == len(result.points) else (
        f"the first {len(shown)} of {len(result.points)} points (the table has all)")
    ax.set(xlabel="generation", ylabel=metric)
    plots.title(ax, f"sweep {result.config['name'] or ''}: {metric} (mean ± 2 se; dotted: exact)", detail)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    path = directory / f"sweep_{metric}.png"
    plots.save(fig, path)
    return Path(path)


def experiment_plot(result: SweepResult, config_path: Path) -> Path | None:
    """The figure of an ``experiments/`` config (its package sits next to the config file)."""
    name = result.config.get("experiment")
    package = config_path.resolve().parent
    if not name or not (package / "__init__.py").exists():
        return None
    sys.path.insert(0, str(package.parent))
    try:
        module = importlib.import_module(package.name)
    except ImportError:
        return None
    finally:
        sys.path.remove(str(package.parent))
    return module.plot(name, result) if hasattr(module, "plot") else None


__all__ = ["plot_generic", "experiment_plot"]
