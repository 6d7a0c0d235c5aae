"""What a language-model run directory reports: the per-generation table, mean ± std over seeds,
samples, and the figures of the paper's Fig. 1b/c (right panels: test perplexity by generation;
left panels: per-sequence perplexity of each generation's training data under the generation-0
model, one figure per setting).

The numbers come from the completed generations' ``metrics.json`` and ``data.npz`` only, so the
report of a run in progress (or of a resumed one) is always consistent with its finished work.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..core.errors import InputError
from ..core.rundir import RunDir, atomic_write_csv, atomic_write_json, atomic_write_text, claim, read_json
from .config import SETTINGS

SUMMARY_COLUMNS = ["setting", "seed", "generation", "epochs", "test_ppl", "test_loss", "best_valid_loss", "best_epoch",
                   "data_ppl_gen0_median", "data_ppl_gen0_mean", "distinct_1", "distinct_2", "distinct_4", "repeat_4",
                   "kept_original", "train_s", "eval_s", "generate_s"]
_REQUIRED = ("setting", "seed", "generation", "epochs", "test_ppl", "test_loss", "best_valid_loss", "best_epoch",
             "data_ppl_gen0", "diversity", "kept_original", "timings", "samples")


def _redo(gen_dir: Path) -> str:
    return f"delete {gen_dir} and run the same command again to recompute that generation (bit-identically)"


# --------------------------------------------------------------------------------------------
# Reading and aggregating (pure functions of the rows)
# --------------------------------------------------------------------------------------------


def collect(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The metrics of every completed generation in a run directory, sorted by (setting, seed, generation).

    A damaged ``metrics.json`` is an :class:`InputError` naming the file and what to do.
    """
    rows = []
    for path in sorted(Path(out).glob("setting*/seed*/gen_*/metrics.json")):
        try:
            m = read_json(path)
        except (OSError, ValueError) as err:
            raise InputError(f"{path} is damaged or truncated ({' '.join(str(err).split())[:120]}); "
                             f"{_redo(path.parent)}") from None
        missing = [k for k in _REQUIRED if not isinstance(m, dict) or k not in m]
        if missing:
            raise InputError(f"{path} is damaged (no {', '.join(missing[:4])}); {_redo(path.parent)}")
        rows.append(m)
    rows.sort(key=lambda m: (m["setting"], m["seed"], m["generation"]))
    return rows


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1); std is None for fewer than two values, both for none."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def aggregate(rows: Sequence[Mapping[str, Any]], value=lambda m: m["test_ppl"]) -> dict[str, dict[str, list]]:
    """Per setting and generation: the mean and std over seeds of ``value(metrics)`` (test perplexity
    by default), and the number of seeds. Missing generations give None; std is None for one seed."""
    out: dict[str, dict[str, list]] = {}
    for setting in sorted({m["setting"] for m in rows}):
        mine = [m for m in rows if m["setting"] == setting]
        gens = max(m["generation"] for m in mine) + 1
        mean, std, n = [], [], []
        for g in range(gens):
            vals = [value(m) for m in mine if m["generation"] == g]
            mu, sd = mean_std(vals)
            mean.append(mu)
            std.append(sd)
            n.append(len(vals))
        out[setting] = {"test_ppl_mean": mean, "test_ppl_std": std, "seeds": n}
    return out


def fmt(mean: float | None, std: float | None, digits: int = 1) -> str:
    """``"1166.2 ± 101.3"``, or the mean alone when there is no std (one seed), or "–"."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per setting: completed generations and the seeds they belong to."""
    out = {}
    for setting in sorted({m["setting"] for m in rows}):
        mine = [m for m in rows if m["setting"] == setting]
        out[setting] = {"generations": len(mine), "seeds": len({m["seed"] for m in mine})}
    return out


def table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Test perplexity by generation, one column per setting: mean ± std over seeds (the right panels
    of Fig. 1b/c as numbers)."""
    agg = aggregate(rows)
    if not agg:
        return "(no completed generation yet)\n"
    settings = sorted(agg)
    n_seeds = {s: max(agg[s]["seeds"]) for s in settings}
    head = "| generation | " + " | ".join(
        f"setting {s} ({SETTINGS[s]['epochs'] if s in SETTINGS else '?'} epochs, "
        f"{int(round(100 * SETTINGS.get(s, {}).get('keep_original', 0)))}% original), "
        f"{n_seeds[s]} seed{'s' if n_seeds[s] != 1 else ''}" for s in settings) + " |"
    lines = [head, "|---|" + "---|" * len(settings)]
    gens = max(len(agg[s]["test_ppl_mean"]) for s in settings)
    for g in range(gens):
        cells = []
        for s in settings:
            a = agg[s]
            if g >= len(a["test_ppl_mean"]):
                cells.append("–")
                continue
            cell = fmt(a["test_ppl_mean"][g], a["test_ppl_std"][g])
            if 0 < a["seeds"][g] < n_seeds[s]:
                cell += f" ({a['seeds'][g]} seed{'s' if a['seeds'][g] != 1 else ''})"
            cells.append(cell)
        lines.append(f"| {'Real' if g == 0 else g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _row(m: Mapping[str, Any]) -> list[Any]:
    d, t = m["diversity"], m["timings"]
    return [m["setting"], m["seed"], m["generation"], m["epochs"], m["test_ppl"], m["test_loss"], m["best_valid_loss"],
            m["best_epoch"], m["data_ppl_gen0"]["median"], m["data_ppl_gen0"]["mean"], d.get("distinct_1"),
            d.get("distinct_2"), d.get("distinct_4"), d.get("repeat_4"), m["kept_original"], t.get("train_s"),
            t.get("eval_s"), t.get("generate_s")]


def samples_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per setting and prompt, the continuation each generation's model writes (first seed)."""
    lines = ["# Sample continuations (5-way beam search) of the same prompts, per generation", ""]
    for setting in sorted({m["setting"] for m in rows}):
        seed = min(m["seed"] for m in rows if m["setting"] == setting)
        chain = sorted((m for m in rows if m["setting"] == setting and m["seed"] == seed), key=lambda m: m["generation"])
        for i, first in enumerate(chain[0]["samples"]):
            lines += [f"## setting {setting}, seed {seed}, prompt {i}", "", f"> {' '.join(first['prompt'].split())}", ""]
            for m in chain:
                if i < len(m["samples"]):
                    text = " ".join(m["samples"][i]["continuation"].split())
                    lines.append(f"- {'Real' if m['generation'] == 0 else 'gen ' + str(m['generation'])}: {text}")
            lines.append("")
    return "\n".join(lines) + "\n"


def data_perplexities(out: Path, rows: Iterable[Mapping[str, Any]], setting: str) -> dict[int, np.ndarray]:
    """Per generation of ``setting``: the per-sequence perplexity under the generation-0 model of the
    data that generation trained on, all seeds pooled."""
    values: dict[int, list[np.ndarray]] = {}
    for m in rows:
        if m["setting"] != setting:
            continue
        gen_dir = out / f"setting{setting}" / f"seed{m['seed']}" / f"gen_{m['generation']:02d}"
        path = gen_dir / "data.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                ppl = np.asarray(z["data_ppl_gen0"], np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{path} is damaged or truncated ({' '.join(str(err).split())[:120]}); "
                             f"{_redo(gen_dir)}") from None
        values.setdefault(m["generation"], []).append(ppl)
    return {g: np.concatenate(v) for g, v in sorted(values.items())}


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_summary(out: "str | os.PathLike | RunDir") -> dict[str, Any]:
    """summary.csv, summary.json, summary.md, samples.md and the figures, from the completed generations."""
    if not isinstance(out, RunDir):
        out = claim(out, "lm", resume=True, flag="lm run directory", legacy="run.json")
    rows = collect(out.path)
    atomic_write_csv(out / "summary.csv", SUMMARY_COLUMNS, [_row(m) for m in rows])
    summary = {"per_setting": aggregate(rows), "completed": counts(rows), "generations_completed": len(rows)}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "summary.md", "# Test perplexity by generation (mean ± std over seeds)\n\n"
                      + table_markdown(rows))
    atomic_write_text(out / "samples.md", samples_markdown(rows))
    if rows:
        plot(out, rows)
    return summary


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _setting_title(setting: str, rows: Sequence[Mapping[str, Any]]) -> str:
    epochs = sorted({m["epochs"] for m in rows if m["setting"] == setting})
    keep = int(round(SETTINGS[setting]["keep_original"] * 100))
    return f"setting {setting}: {'/'.join(map(str, epochs))} epochs, {keep}% original data"


def _generation_ticks(ax, gens: int) -> None:
    ax.set_xticks(np.arange(gens), ["Real"] + [str(i) for i in range(1, gens)])
    ax.set_xlabel("generation")


def plot(out: "Path | RunDir", rows: Sequence[Mapping[str, Any]]) -> None:
    """perplexity.png (test perplexity by generation, a panel per setting: mean ± std over seeds and
    each seed) and histograms_setting{S}.png (one figure per setting, see :func:`plot_histograms`)."""
    from ..core import plots  # matplotlib: imported only when a figure is drawn

    agg = aggregate(rows)
    settings = sorted(agg)
    fig, axes = plots.figure(ncols=len(settings), width=4.6, height=3.6)
    for ax, setting in zip(axes, settings):
        a = agg[setting]
        g = np.arange(len(a["test_ppl_mean"]))
        seeds = sorted({m["seed"] for m in rows if m["setting"] == setting})
        if len(seeds) > 1:
            for seed in seeds:
                chain = sorted((m for m in rows if m["setting"] == setting and m["seed"] == seed),
                               key=lambda m: m["generation"])
                ax.plot([m["generation"] for m in chain], [m["test_ppl"] for m in chain], "-", color="0.6", lw=0.7,
                        alpha=0.8, zorder=1, label="one seed" if seed == seeds[0] else None)
        mean = np.array([np.nan if v is None else v for v in a["test_ppl_mean"]])
        std = np.array([0.0 if v is None else v for v in a["test_ppl_std"]])
        label = f"mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else f"seed {seeds[0]}"
        ax.errorbar(g, mean, yerr=std if len(seeds) > 1 else None, fmt="o-", ms=4, capsize=3, color="C0", zorder=2,
                    label=label)
        _generation_ticks(ax, len(g))
        ax.set_ylabel("test perplexity")
        ax.set_title(_setting_title(setting, rows), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    plots.save(fig, out / "perplexity.png")
    for setting in settings:
        plot_histograms(out, rows, setting)


def plot_histograms(out: "Path | RunDir", rows: Sequence[Mapping[str, Any]], setting: str) -> None:
    """The left panel of the paper's Fig. 1b (setting 1) or 1c (setting 2): for each generation, the
    histogram of the per-sequence perplexity of the data it was trained on, scored by the
    generation-0 model; one log-spaced axis, colour by generation, all seeds pooled, each histogram
    normalised to fractions of its sequences."""
    from ..core import plots

    plt = plots.plt
    values = data_perplexities(Path(out), rows, setting)
    if not values:
        return
    allv = np.concatenate(list(values.values()))
    allv = allv[np.isfinite(allv) & (allv > 0)]
    lo, hi = float(np.min(allv)), float(np.max(allv))
    lo_dec, hi_dec = math.floor(math.log10(lo)), math.ceil(math.log10(hi * 1.0001))
    bins = np.logspace(lo_dec, hi_dec, 10 * (hi_dec - lo_dec) + 1)  # 10 bins per decade
    gens = sorted(values)
    cmap = plt.get_cmap("viridis")
    fig, (ax,) = plots.figure(width=6.6, height=3.8)
    for g in gens:
        v = values[g][np.isfinite(values[g]) & (values[g] > 0)]
        color = cmap(g / max(1, gens[-1]))
        weights = np.full(v.size, 1.0 / max(1, v.size))
        ax.hist(v, bins=bins, weights=weights, histtype="stepfilled", color=color, alpha=0.12, lw=0)
        ax.hist(v, bins=bins, weights=weights, histtype="step", color=color, lw=1.3,
                label="0 (real)" if g == 0 else str(g))
    ax.set_xscale("log")
    ax.set_xlim(10.0 ** lo_dec, 10.0 ** hi_dec)
    seeds = sorted({m["seed"] for m in rows if m["setting"] == setting})
    ax.set_xlabel("perplexity of each training sequence under the generation-0 model")
    ax.set_ylabel("fraction of sequences (10 bins per decade)")
    pooled = f"{len(seeds)} seeds pooled" if len(seeds) > 1 else f"seed {seeds[0]}"
    ax.set_title(f"{_setting_title(setting, rows)} ({pooled})", fontsize=10)
    ax.grid(alpha=0.25, which="major")
    ax.legend(fontsize=8, title="data of\ngeneration", title_fontsize=8, frameon=False, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    plots.save(fig, out / f"histograms_setting{setting}.png")  # through the RunDir: registered in its marker


__all__ = ["SUMMARY_COLUMNS", "collect", "aggregate", "mean_std", "fmt", "counts", "table_markdown",
           "samples_markdown", "data_perplexities", "write_summary", "plot", "plot_histograms"]
