"""The paper's repetition ablation (its section "Ablation: Repetitions"): the same recursion with
generation under different repetition penalties, drawn on one figure.

The paper reports that generating with a repetition penalty of 2.0 made the models of later
generations worse (test perplexity about twice the original's). ``run_ablation`` runs one ordinary
language-model run per penalty (default: 1.0, i.e. none, and 2.0) in sub-directories of one folder,
each resumable on its own, then compares them::

    OUT/ablation.json                    the preset and penalties (a different request is refused)
    OUT/penalty-1/ OUT/penalty-2/        complete run directories (see collapse_jax.lm.run)
    OUT/ablation.csv, ablation.md        per penalty, setting and generation: test perplexity and the
                                         repeated-4-gram rate of the data trained on (mean, std over seeds)
    OUT/ablation.png                     both on one figure, a column per setting
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..core.errors import InputError
from ..core.rundir import atomic_write_csv, atomic_write_json, atomic_write_text, claim, versions
from .config import ABLATION_PENALTIES, SETTINGS, config_changes, parse_penalties, resolve_config
from .report import collect, fmt, mean_std
from .run import Run, read_json_file

KIND = "lm-ablation"
METRICS = {  # name -> (label, value of one generation's metrics)
    "test_ppl": ("test perplexity", lambda m: m["test_ppl"]),
    "repeat_4": ("repeated 4-grams in the data trained on", lambda m: m["diversity"].get("repeat_4")),
    "data_ppl_gen0_median": ("median perplexity of that data under the gen-0 model",
                             lambda m: m["data_ppl_gen0"]["median"]),
}


def penalty_dir(penalty: float) -> str:
    return f"penalty-{penalty:g}"


def run_ablation(out: str | os.PathLike, preset: str = "cpu", penalties: Sequence[float] | str = ABLATION_PENALTIES, *,
                 overwrite: bool = False, progress: bool = True, hook: Callable[[str], None] | None = None,
                 **overrides) -> dict[str, Any]:
    """Run (or resume) the recursion once per repetition penalty in ``out``; returns the comparison
    (also written to ``out``). ``overrides`` are those of :func:`collapse_jax.lm.resolve_config`."""
    penalties = parse_penalties(penalties)
    if len(penalties) < 2:
        raise InputError(f"an ablation compares at least two repetition penalties, got {penalties}")
    if "repetition_penalty" in overrides:
        raise InputError("give the ablation's penalties as penalties=, not repetition_penalty=")
    configs = {p: resolve_config(preset, repetition_penalty=p, **overrides) for p in penalties}
    request = {"preset": preset, "penalties": penalties}
    top = claim(out, KIND, overwrite=overwrite, resume=not overwrite, flag="--out")
    if top.resumed and (top.path / "ablation.json").is_file():
        old = read_json_file(top.path / "ablation.json", "move the folder away, or pass --overwrite to start again",
                             keys=("preset", "penalties"))
        changes = config_changes({k: old[k] for k in request}, request)
        if changes:
            raise InputError(f"{top.path} holds an ablation of another request ({changes}); refusing to resume it: "
                             "choose another --out, or pass --overwrite to start again")
    else:
        atomic_write_json(top / "ablation.json", {**request, "versions": versions(),
                                                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    rows_by_penalty = {}
    for p in penalties:
        run = Run(configs[p], top / penalty_dir(p), overwrite=overwrite)
        run.run(progress=progress, hook=hook, desc=f"lm {preset}, repetition penalty {p:g}")
        rows_by_penalty[p] = collect(run.out.path)
    result = compare(rows_by_penalty)
    atomic_write_csv(top / "ablation.csv", ["repetition_penalty", "setting", "generation", "metric", "mean", "std",
                                            "seeds"], _csv_rows(result))
    atomic_write_text(top / "ablation.md", markdown(result))
    plot(top, result)
    return result


def compare(rows_by_penalty: Mapping[float, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """{"penalties": [...], "per_penalty": {penalty: {setting: {metric: {"mean": [...], "std": [...],
    "seeds": [...]}}}}} over generations; std is None with one seed."""
    per: dict[str, Any] = {}
    for p, rows in rows_by_penalty.items():
        by_setting: dict[str, Any] = {}
        for setting in sorted({m["setting"] for m in rows}):
            mine = [m for m in rows if m["setting"] == setting]
            gens = max(m["generation"] for m in mine) + 1
            by_setting[setting] = {}
            for name, (_, value) in METRICS.items():
                stats = {"mean": [], "std": [], "seeds": []}
                for g in range(gens):
                    vals = [value(m) for m in mine if m["generation"] == g and value(m) is not None]
                    mu, sd = mean_std(vals)
                    stats["mean"].append(mu)
                    stats["std"].append(sd)
                    stats["seeds"].append(len(vals))
                by_setting[setting][name] = stats
        per[f"{p:g}"] = by_setting
    return {"penalties": [float(p) for p in rows_by_penalty], "per_penalty": per}


def _csv_rows(result: Mapping[str, Any]):
    for p, by_setting in result["per_penalty"].items():
        for setting, metrics in by_setting.items():
            for name, stats in metrics.items():
                for g, (mu, sd, n) in enumerate(zip(stats["mean"], stats["std"], stats["seeds"])):
                    yield [p, setting, g, name, mu, sd, n]


def markdown(result: Mapping[str, Any]) -> str:
    """Test perplexity by generation, a column per (setting, penalty)."""
    lines = ["# Repetition ablation: test perplexity by generation (mean ± std over seeds)", ""]
    cols = [(s, p) for s in sorted({s for b in result["per_penalty"].values() for s in b})
            for p in result["per_penalty"] if s in result["per_penalty"][p]]
    if not cols:
        return "\n".join(lines + ["(no completed generation yet)"]) + "\n"
    lines.append("| generation | " + " | ".join(f"setting {s}, penalty {p}" for s, p in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    gens = max(len(result["per_penalty"][p][s]["test_ppl"]["mean"]) for s, p in cols)
    for g in range(gens):
        cells = []
        for s, p in cols:
            st = result["per_penalty"][p][s]["test_ppl"]
            cells.append(fmt(st["mean"][g], st["std"][g]) if g < len(st["mean"]) else "–")
        lines.append(f"| {'Real' if g == 0 else g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(out, result: Mapping[str, Any]) -> None:
    """ablation.png: a column per setting; top row test perplexity, bottom row the repeated-4-gram
    rate of the data each generation trained on; a line per penalty (mean ± std over seeds)."""
    import numpy as np

    from ..core import plots  # matplotlib: imported only when a figure is drawn

    settings = sorted({s for b in result["per_penalty"].values() for s in b})
    if not settings:
        return
    fig, axes = plots.figure(ncols=len(settings), nrows=2, width=4.6, height=3.0)
    axes = axes.reshape(2, len(settings))
    for j, setting in enumerate(settings):
        for i, name in enumerate(("test_ppl", "repeat_4")):
            ax = axes[i, j]
            gens = 0
            for k, (p, by_setting) in enumerate(result["per_penalty"].items()):
                if setting not in by_setting:
                    continue
                st = by_setting[setting][name]
                mean = np.array([np.nan if v is None else v for v in st["mean"]])
                std = np.array([0.0 if v is None else v for v in st["std"]])
                g = np.arange(mean.size)
                gens = max(gens, mean.size)
                label = "no penalty" if float(p) == 1.0 else f"penalty {p}"
                ax.errorbar(g + 0.06 * (k - 0.5), mean, yerr=std if np.any(std > 0) else None, fmt="o-", ms=3.5,
                            capsize=2.5, color=f"C{k}", label=label)
            ax.set_xticks(np.arange(gens), ["Real"] + [str(x) for x in range(1, gens)])
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"setting {setting}: {SETTINGS[setting]['epochs']} epochs, "
                             f"{int(round(100 * SETTINGS[setting]['keep_original']))}% original data", fontsize=10)
                ax.set_ylabel("test perplexity")
                ax.set_yscale("log")
                ax.legend(fontsize=8)
            else:
                ax.set_xlabel("generation")
                ax.set_ylabel("repeated 4-grams in data trained on")
                ax.set_ylim(-0.02, 1.02)
    plots.save(fig, out / "ablation.png")


__all__ = ["run_ablation", "compare", "markdown", "plot", "penalty_dir", "KIND"]
