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
NAMES = ("absorption", "surviving", "schedules", "workflows_discrete", "workflows_gaussian", "real_fraction",
         "regression_workflows", "kde_workflows", "poisson_absorption", "mixing_schedule")


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


def _case_label(pt) -> str:
    p = pt.params
    return p["workflow"] + (f", {p['design']} design" if "design" in p else "")


def plot_regression_workflows(res, out: Path) -> Path:
    """Gerstgrasser et al.'s figure: test error per workflow (log scale), and the accumulate cases
    against the π²/6 bound."""
    from collapse_jax import regression
    from collapse_jax.core import plots

    fig, (ax1, ax2) = plots.figure(ncols=2, width=5.2, height=4.0)
    p0 = res.points[0].params
    d, T, sigma = p0["dim"], p0["samples"], p0["noise"]
    for i, pt in enumerate(res.points):
        g, c = res.curve("test_error", pt.index)
        ok = g > 0
        ax1.plot(g[ok], c["mean"][ok], color=f"C{i}", lw=1.5, label=_case_label(pt))
        ax1.fill_between(g[ok], (c["mean"] - 2 * c["se"])[ok], (c["mean"] + 2 * c["se"])[ok], color=f"C{i}",
                         alpha=0.2, lw=0)
        if np.isfinite(c["prediction"]).any():
            ax1.plot(g[ok], c["prediction"][ok], "k:", lw=1)
        if pt.params["workflow"] == "accumulate":
            ax2.plot(g, c["mean"], color=f"C{i}", lw=1.5, label=_case_label(pt))
            ax2.fill_between(g, c["mean"] - 2 * c["se"], c["mean"] + 2 * c["se"], color=f"C{i}", alpha=0.2, lw=0)
            ax2.plot(g, c["prediction"], "k:", lw=1)
    ax1.set(xlabel="model-fitting iteration n", ylabel="test error ‖ŵ_n − w*‖²", yscale="log")
    plots.title(ax1, "Replace grows linearly, accumulate stays bounded",
                f"d={d}, T={T}, σ={sigma}; dotted: exact E")
    ax1.legend(fontsize=7, loc="center right")
    bound = regression.accumulate_bound(d, T, sigma)
    ax2.axhline(bound, color="tab:red", ls="--", lw=1, label=f"σ²d/(T−d−1)·π²/6 = {bound:.3f}")
    ax2.set(xlabel="model-fitting iteration n", ylabel="test error ‖ŵ_n − w*‖²", ylim=(0, 1.25 * bound))
    plots.title(ax2, "Accumulate: reused vs fresh design", "dotted: exact E (fixed design: given X)")
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "regression_workflows.png"
    plots.save(fig, path)
    return path


def plot_kde_workflows(res, out: Path) -> Path:
    """Kazdan et al.'s workflows for KDEs: the KDE's spread and its mean's drift per workflow."""
    from collapse_jax.core import plots

    fig, axes = plots.figure(ncols=2, width=5.2, height=4.0)
    p0 = res.points[0].params
    panels = (("variance", "tr Cov of the KDE", "linear"), ("mean_sq", "‖mean of the KDE − mean₀‖²", "log"))
    for ax, (metric, ylabel, yscale) in zip(axes, panels):
        for i, pt in enumerate(res.points):
            g, c = res.curve(metric, pt.index)
            ok = g > 0 if yscale == "log" else g >= 0
            ax.plot(g[ok], c["mean"][ok], color=f"C{i}", lw=1.5, label=pt.params["workflow"])
            ax.fill_between(g[ok], (c["mean"] - 2 * c["se"])[ok], (c["mean"] + 2 * c["se"])[ok], color=f"C{i}",
                            alpha=0.2, lw=0)
            if np.isfinite(c["prediction"]).any():
                ax.plot(g[ok], c["prediction"][ok], "k:", lw=1)
        ax.set(xlabel="model-fitting iteration t", ylabel=ylabel, yscale=yscale)
        ax.legend(fontsize=7, loc="upper left")
    plots.title(axes[0], "Replace: the KDE spreads (kernel noise piles up)",
                f"d={p0['dim']}, M={p0['samples']}, h={p0['bandwidth']}, D₀ {p0['original']}; dotted: exact E")
    plots.title(axes[1], "The mean drifts: a random walk under replace",
                "log scale; accumulate-subsample: simulation only")
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "kde_workflows.png"
    plots.save(fig, path)
    return path


def plot_poisson_absorption(res, out: Path, paths: int = 25) -> Path:
    """Suresh et al.'s figure: P(λ_k ≠ 0) against their Theorem 2 and its bounds; rate paths."""
    from collapse_jax import poisson, sweep
    from collapse_jax.core import plots

    fig, axes = plots.figure(ncols=3, width=4.3, height=3.9)
    n = res.points[0].params["samples"]
    first = max(res.points, key=lambda pt: pt.params["rate0"])
    raw = sweep.load_chains(res.out, first.index)
    g = raw["generation"]
    for c in range(min(paths, raw["rate"].shape[1])):
        axes[0].plot(g, raw["rate"][:, c], color="tab:blue", alpha=0.35, lw=0.6)
    axes[0].axhline(first.params["rate0"], color="k", ls=":", lw=1, label="E λ_k = λ₀ (exact)")
    axes[0].set(xlabel="generation k", ylabel="λ_k", ylim=(0, None))
    axes[0].legend(fontsize=7, loc="upper left")
    plots.title(axes[0], f"Rate paths (λ₀={first.params['rate0']:g}, n={n})", f"{paths} chains")
    for ax, pt in zip(axes[1:], sorted(res.points, key=lambda pt: pt.params["rate0"])):
        g, c = res.curve("absorbed", pt.index)
        ok = g > 0
        alive = 1.0 - c["mean"]
        ax.errorbar(g[ok][::10], alive[ok][::10], yerr=2 * c["se"][ok][::10], fmt=".", ms=3, color="tab:green",
                    capsize=2, lw=0.8, label="simulated ± 2 se")
        ax.plot(g[ok], 1.0 - c["prediction"][ok], "k--", lw=1, label="exact (Theorem 2)")
        lo, hi = poisson.survival_bounds(n, pt.params["rate0"], g[ok])
        ax.fill_between(g[ok], lo, np.minimum(hi, 1.0), color="tab:orange", alpha=0.2, lw=0, label="their bounds")
        ax.set(xlabel="generation k", ylabel="P(λ_k ≠ 0)", yscale="log", xlim=(0, g[-1]))
        ax.legend(fontsize=7, loc="lower left")
        plots.title(ax, f"Survival, λ₀={pt.params['rate0']:g}", f"n={n}")
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "poisson_absorption.png"
    plots.save(fig, path)
    return path


def plot_mixing_schedule(res, out: Path) -> Path:
    """Real-data shares that change over generations: E H_t against its generalised closed form,
    next to the schedules γ_t themselves."""
    from collapse_jax.core import plots

    fig, (ax1, ax2) = plots.figure(ncols=2, width=5.2, height=4.0)
    G = res.config["generations"]
    for i, pt in enumerate(res.points):
        label = f"γ = {pt.params['gamma']}"
        g, c = res.curve("gini_simpson", pt.index)
        ax1.plot(g, c["mean"], color=f"C{i}", lw=1.5, label=label)
        ax1.fill_between(g, c["mean"] - 2 * c["se"], c["mean"] + 2 * c["se"], color=f"C{i}", alpha=0.2, lw=0)
        ax1.plot(g, c["prediction"], "k:", lw=1)
        ax2.plot(np.arange(G), pt.prepared.process.mixing.at(0, G, G)["gamma"], color=f"C{i}", lw=1.5, label=label)
    p0 = res.points[0].params
    ax1.set(xlabel="generation t", ylabel="Gini–Simpson diversity H_t")
    plots.title(ax1, "Diversity under changing real-data shares",
                f"K={p0['states']} {p0['init']}, M={p0['samples']}; dotted: exact E H_t")
    ax1.legend(fontsize=7, loc="lower left")
    ax2.set(xlabel="generation t", ylabel="real-data share γ_t", ylim=(-0.01, None))
    plots.title(ax2, "The schedules γ_t", "constant, linear:0.3,0 and exp:0.3,0.98")
    ax2.legend(fontsize=7, loc="upper right")
    fig.suptitle(_scale_note(res), fontsize=8)
    path = out / "mixing_schedule.png"
    plots.save(fig, path)
    return path


PLOTS = {"absorption": plot_absorption, "surviving": plot_surviving, "schedules": plot_schedules,
         "workflows": plot_workflows, "real_fraction": plot_real_fraction,
         "regression_workflows": plot_regression_workflows, "kde_workflows": plot_kde_workflows,
         "poisson_absorption": plot_poisson_absorption, "mixing_schedule": plot_mixing_schedule}


def plot(name: str, res, out: Path | None = None) -> Path:
    if name not in PLOTS:
        raise KeyError(f"no plot named {name!r}; known: {', '.join(PLOTS)}")
    return PLOTS[name](res, Path(out or res.out))
