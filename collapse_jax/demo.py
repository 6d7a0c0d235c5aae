"""``collapse-jax demo``: the built-in default runs, one per family, each through its own CLI and
writing its run directory with plots under ``--out``. Each takes seconds to a few minutes on a
laptop CPU."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .core.rundir import claim

# (family, arguments of its subcommand): small enough for a CPU, large enough to show the effect.
DEMOS = (
    ("discrete", ["--states", "100", "--init", "zipf:1.1", "--samples", "1000", "--generations", "500",
                  "--chains", "2000"]),
    ("gaussian", ["--dim", "2", "--samples", "20", "--generations", "300", "--chains", "2000",
                  "--compare-schedules"]),
    ("gmm", ["--preset", "blob", "--chains", "8", "--generations", "500"]),
    ("vae", ["--dataset", "digits", "--generations", "3", "--epochs", "10"]),
)


def run_demo(args: argparse.Namespace) -> int:
    from .cli import main

    out = claim(args.out, "demo", overwrite=args.overwrite)
    extra = (["--overwrite"] if args.overwrite else []) + (["--no-progress"] if args.no_progress else [])
    for family, argv in DEMOS:
        print(f"\n== demo: collapse-jax {family} {' '.join(argv)}", flush=True)
        start = time.perf_counter()
        code = main([family, *argv, "--out", str(out / family), *extra])
        if code:
            return code
        print(f"== {family} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nwrote {out}: one folder per family, each with config.json, metrics.npz, summary.csv and PNG plots")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("demo", help="run the built-in default simulations and write their plots")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_demo)
