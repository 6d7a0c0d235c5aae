"""Ready sweep configs that reproduce the theory figures, and the figures they draw.

    python -m experiments NAME [--scale large] [--out DIR] [--publish]
    collapse-jax sweep experiments/NAME.toml --plot        (the same, through the CLI)

Each ``NAME.toml`` names its plot with ``experiment = "..."``; :func:`plot` draws it from a
finished :class:`collapse_jax.sweep.SweepResult` into the sweep directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NAMES = ("absorption", "surviving", "schedules", "workflows_discrete", "workflows_gaussian", "real_fraction")


def _label(pt, keys) -> str:
    return ", ".join(f"{k}={pt.params[k]}" for k in keys)


def _curves(ax, res, metric, keys, predicted=True, scale=1.0):
    for i, pt in enumerate(res.points):
        g, c = res.curve(metric, pt.index)
        if not g.size:
            continue
        color = f"C{i % 10}"
        ax.plot(g, c["mean"] * scale, color=color, lw=1.4, label=_label(pt, keys))
        ax.fill_between(g, (c["mean"] - 2 * c["se"]) * scale, (c["mean"] + 2 * c["se"]) * scale, color=color,
                        alpha=0.2, lw=0)
        if predicted and np.isfinite(c["prediction"]).any():
            ax.plot(g, c["prediction"] * scale, color="k", ls=":", lw=1)


def _scale_note(res) -> str:
    c = res.config
    return f"{c['chains']} chains/point, {c['generations']} generations (scale: {c['scale']})"


def plot_absorption(res, out: Path) -> Path:
    from collapse_jax import discrete
    from collapse_jax.core import plots

    fig, (ax1, ax2) = plots.figure(ncols=2)
    ms, mean, se, frac = [], [], [], []
    for pt in res.points:
        rows = {r["metric"]: r for r in res.rows if r["point"] == pt.index and r["metric"].startswith("absorption")}
        ms.append(pt.params["samples"])
        frac.append(rows["absorption_time_fraction"]["mean"])
        r = rows.get("absorption_time")
        mean.append(r["mean"] if r else np.nan)
        se.append(r["se"] if r else np.nan)
    ms, mean, se = map(np.asarray, (ms, mean, se))
    p0 = res.points[0].prepared.params["p0"]
    grid = np.logspace(np.log10(ms.min()), np.log10(ms.max()), 50)
    ax1.plot(grid, [discrete.absorption_time_diffusion(p0, m) for m in grid], "k--", lw=1,
             label="diffusion: −2M Σ(1−p_i) ln(1−p_i)")
    ax1.errorbar(ms, mean, yerr=2 * se, fmt="o", color="C3", capsize=3, label="simulated mean ± 2 se")
    ax1.set(xscale="log", yscale="log", xlabel="sample size M", ylabel="generations to absorption",
            title=f"Absorption time ∝ M (K={p0.size} uniform)")
    ax1.legend(fontsize=8)
    for i, pt in enumerate(res.points):
        g, c = res.curve("absorbed", pt.index)
        ax2.plot(g / pt.params["samples"], c["mean"], color=f"C{i}", label=f"M={pt.params['samples']}")
    ax2.set(xlabel="generation / M", ylabel="fraction of chains absorbed", title="Absorbed fraction, time in units of M",
            xlim=(0, 12))
    ax2.legend(fontsize=8)
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "absorption.png"
    plots.save(fig, path)
    return path


def _two_curves(res, out: Path, name: str, key: str, panels, note: str = "") -> Path:
    """Two panels of mean ± 2 se against generation, one line per point (prediction dotted)."""
    from collapse_jax.core import plots

    fig, axes = plots.figure(ncols=2)
    for ax, (metric, ylabel, title, yscale) in zip(axes, panels):
        _curves(ax, res, metric, [key])
        ax.set(xlabel="generation", ylabel=ylabel, title=title, yscale=yscale)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
    fig.suptitle(_scale_note(res) + note, fontsize=8)
    path = out / f"{name}.png"
    plots.save(fig, path)
    return path


def plot_surviving(res, out: Path) -> Path:
    p = res.points[0].params
    return _two_curves(res, out, "surviving", "samples", [
        ("surviving", "states with p > 0", f"Surviving states, K={p['states']} {p['init']} (dotted: exact)", "log"),
        ("tail_lost", "p_0-mass of lost tail states", "The tail (lowest 10% of p_0) goes first", "linear")])


def plot_schedules(res, out: Path) -> Path:
    m0 = res.points[0].params["samples"]
    return _two_curves(res, out, "schedules", "schedule", [
        ("w2", "E W₂²(N_n, N(0,1))", f"Gaussian d=1, M_0={m0}: bounded iff Σ 1/M_i < ∞", "log"),
        ("sigma", "E σ_n", "Fitted standard deviation (dotted: exact Π c₄(M_i))", "linear")],
        "; dotted lines: exact expectations")


def plot_workflows(res, out: Path) -> Path:
    from collapse_jax.core import plots

    fam = res.config["family"]
    metrics = ("tv", "gini_simpson") if fam == "discrete" else ("w2", "sigma")
    fig, axes = plots.figure(ncols=2)
    for ax, metric in zip(axes, metrics):
        for i, pt in enumerate(res.points):
            g, c = res.curve(metric, pt.index)
            label = pt.params["workflow"] + (f", γ={pt.params['gamma']}" if pt.params["gamma"] else "")
            ax.plot(g, c["mean"], color=f"C{i}", lw=1.4, label=label)
            ax.fill_between(g, c["mean"] - 2 * c["se"], c["mean"] + 2 * c["se"], color=f"C{i}", alpha=0.2, lw=0)
        ax.set(xlabel="generation", ylabel=metric)
        ax.legend(fontsize=8)
    axes[0].set_title(f"{fam}: replace collapses; accumulate and real data hold", fontsize=9)
    fig.suptitle(_scale_note(res) + f"; M = {res.points[0].params['samples']}", fontsize=8)
    path = out / f"{res.config['name'] or 'workflows'}.png"
    plots.save(fig, path)
    return path


def plot_real_fraction(res, out: Path, threshold: float = 0.1) -> Path:
    from collapse_jax.core import plots

    G = res.config["generations"]
    fig, (ax,) = plots.figure()
    ms = sorted({pt.params["samples"] for pt in res.points})
    for i, m in enumerate(ms):
        pts = sorted((pt for pt in res.points if pt.params["samples"] == m), key=lambda p: p.params["gamma"])
        gam = np.array([pt.params["gamma"] for pt in pts])
        rows = [next(r for r in res.rows if r["point"] == pt.index and r["metric"] == "tv" and r["generation"] == G)
                for pt in pts]
        mean = np.array([r["mean"] for r in rows])
        se = np.array([r["se"] for r in rows])
        x = np.where(gam > 0, gam, gam[gam > 0].min() / 3 if (gam > 0).any() else 1e-3)
        ax.errorbar(x, mean, yerr=2 * se, fmt="o-", color=f"C{i}", capsize=2, label=f"M={m}")
        # The floor: TV of a fresh M-sample of p_0 itself (what even all-real data would give).
        p0 = pts[0].prepared.params["p0"]
        fresh = np.random.default_rng(0).multinomial(m, p0, size=4000) / m
        ax.axhline(0.5 * np.abs(fresh - p0).sum(1).mean(), color=f"C{i}", ls=":", lw=1)
        ok = np.flatnonzero(mean + 2 * se < threshold)
        if ok.size:
            ax.plot(x[ok[0]], mean[ok[0]], marker="*", ms=14, color=f"C{i}", mec="k")
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold}")
    ax.set(xscale="log", xlabel="real-data fraction γ (γ=0 drawn at the left edge)", ylabel=f"E TV(p_{G}, p_0)",
           title="Real data needed to stay near p_0\n(★ smallest γ under the threshold; dotted: a fresh M-sample of p_0)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "real_fraction.png"
    plots.save(fig, path)
    return path


PLOTS = {"absorption": plot_absorption, "surviving": plot_surviving, "schedules": plot_schedules,
         "workflows": plot_workflows, "real_fraction": plot_real_fraction}


def plot(name: str, res, out: Path | None = None) -> Path:
    if name not in PLOTS:
        raise KeyError(f"no plot named {name!r}; known: {', '.join(PLOTS)}")
    return PLOTS[name](res, Path(out or res.out))
