"""``collapse-jax demo``: one run of every family through its own command line, each writing its run
directory with figures under ``--out``.

``--size quick`` (the default, what ``make demo`` runs) shows every family in about two minutes on
a laptop CPU; ``--size full`` runs the larger defaults the README's figures come from (about ten
minutes).
"""

from __future__ import annotations

import argparse
import sys
import time

from .core.rundir import claim

# (family, arguments of its subcommand) per size: small enough for a CPU, large enough to show the effect.
DEMOS = {
    "quick": (
        ("discrete", ["--states", "50", "--init", "zipf:1.1", "--samples", "200", "--generations", "200",
                      "--chains", "500"]),
        ("gaussian", ["--dim", "2", "--samples", "20", "--generations", "200", "--chains", "1000"]),
        ("regression", ["--dim", "10", "--samples", "40", "--generations", "30", "--chains", "200"]),
        ("kde", ["--samples", "50", "--generations", "100", "--chains", "200", "--bandwidth", "0.2"]),
        ("poisson", ["--samples", "10", "--generations", "200", "--chains", "2000"]),
        ("gmm", ["--preset", "blob", "--chains", "4", "--generations", "100"]),
        ("vae", ["--dataset", "digits", "--generations", "2", "--epochs", "4"]),
    ),
    "full": (
        ("discrete", ["--states", "100", "--init", "zipf:1.1", "--samples", "1000", "--generations", "500",
                      "--chains", "2000"]),
        ("gaussian", ["--dim", "2", "--samples", "20", "--generations", "300", "--chains", "2000",
                      "--compare-schedules"]),
        ("regression", ["--dim", "10", "--samples", "40", "--generations", "100", "--chains", "2000"]),
        ("kde", ["--samples", "100", "--generations", "300", "--chains", "1000", "--bandwidth", "0.2"]),
        ("poisson", ["--samples", "10", "--generations", "500", "--chains", "5000"]),
        ("gmm", ["--preset", "blob", "--chains", "8", "--generations", "500"]),
        ("vae", ["--dataset", "digits", "--generations", "3", "--epochs", "10"]),
    ),
}


def run_demo(args: argparse.Namespace) -> int:
    from .cli import main

    out = claim(args.out, "demo", overwrite=args.overwrite)
    extra = ["--overwrite"] if args.overwrite else []
    extra += ["--no-progress"] if args.no_progress else []
    started = time.perf_counter()
    for family, argv in DEMOS[args.size]:
        print(f"\n== demo: collapse-jax {family} {' '.join(argv)}", flush=True)
        start = time.perf_counter()
        code = main([family, *argv, "--out", str(out / family), *extra])
        if code:
            return code
        print(f"== {family} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nwrote {out} in {time.perf_counter() - started:.0f} s: one folder per family, each with config.json, "
          "metrics.npz, summary.csv and PNG figures")
    if args.size == "quick":
        print("larger runs: collapse-jax demo --size full; whole grids: python -m experiments all", file=sys.stderr)
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("demo", help="run every family once and write their figures",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="quick", choices=tuple(DEMOS), help="quick (~2 min) or full (~10 min)")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_demo)
