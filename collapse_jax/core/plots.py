"""Plot helpers shared by the families (matplotlib, Agg backend, PNG written atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .rundir import atomic_write_bytes  # noqa: E402


def figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel()


def save(fig, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def title(ax, main: str, detail: str | None = None) -> None:
    """A title, with the run's details on a second, smaller line (never clipped by tight_layout)."""
    ax.set_title(main if not detail else f"{main}\n{detail}", fontsize=10)


def band(ax, x, stats: dict, label: str, color=None, prediction_label: str | None = "exact prediction") -> None:
    """Mean with a ±2 standard-error band, the 5–95% quantile band, and the prediction if any.

    Rows whose mean is carried by a few chains (``stats['heavy_tail']``, see
    :mod:`collapse_jax.core.stats`) are marked: there the mean is no check of the expectation, and
    the median (drawn dotted) is the honest summary."""
    mean, se = stats["mean"], stats["se"]
    line, = ax.plot(x, mean, color=color, lw=1.6, label=f"{label} (mean)")
    c = line.get_color()
    ax.fill_between(x, stats["q05"], stats["q95"], color=c, alpha=0.12, lw=0, label="5–95% of chains")
    if np.any(np.isfinite(se)):
        ax.fill_between(x, mean - 2 * se, mean + 2 * se, color=c, alpha=0.35, lw=0)
    heavy = np.asarray(stats.get("heavy_tail", np.zeros(len(mean), bool)), bool)
    if heavy.any():
        ax.plot(x, stats["q50"], color=c, lw=1.0, ls=":", label="median")
        ax.plot(np.asarray(x)[heavy], np.asarray(mean)[heavy], "x", color=c, ms=4,
                label="heavy tail: mean carried by the top 1% of chains")
    if "prediction" in stats and prediction_label:
        ax.plot(x, stats["prediction"], "k--", lw=1.1, label=prediction_label)
