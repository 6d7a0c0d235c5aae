"""``collapse-jax demo``: the built-in default runs, each writing its run directory with plots."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from .cli import prepare_out


def _discrete(out: Path, progress: bool) -> None:
    from . import discrete

    r = discrete.simulate("zipf:1.1", states=100, samples=1000, generations=500, chains=2000, seed=0,
                          progress=progress)
    r.save(out / "discrete", overwrite=True, plot=discrete.plot_run)
    discrete.print_summary(r)


# Each family contributes a demo if it defines ``demo(out_dir, progress)``.
FAMILY_DEMOS = ("gaussian", "gmm", "vae")


def run_demo(args: argparse.Namespace) -> int:
    out = Path(prepare_out(args.out, args.overwrite))
    progress = not args.no_progress
    _discrete(out, progress)
    for name in FAMILY_DEMOS:
        try:
            module = importlib.import_module(f"collapse_jax.{name}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "demo"):
            module.demo(out / name, progress)
    print(f"wrote {out}: one folder per family, each with config.json, metrics.npz, summary.csv and PNG plots")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("demo", help="run the built-in default simulations and write their plots")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_demo)
