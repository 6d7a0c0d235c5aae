"""``collapse-jax sweep CONFIG.toml``: run, resume, or plan a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import as_int
from ..core.rundir import claim
from .config import load_config
from .plan import describe_plan, plan_chunks, points_of
from .plots import experiment_plot, plot_generic
from .run import run


def add_cli(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter grid as one vectorised, resumable sweep",
                       description="Run a sweep config (TOML); rerun the same command to resume.")
    p.add_argument("config", help="sweep config, TOML")
    p.add_argument("--out", default=None, help="sweep directory (default runs/sweep-<name>)")
    p.add_argument("--scale", default=None, help="apply the config's [scales.NAME] overrides")
    p.add_argument("--plot", action="store_true", help="draw the experiment's figure (or a generic one)")
    p.add_argument("--max-chunks", type=int, default=None, help="stop after this many new chunks (>= 1)")
    p.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize() (multi-host)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; run and allocate nothing")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_cli, on_interrupt="the finished chunks are kept: run the same command to continue")


def run_cli(args: argparse.Namespace) -> int:
    if args.max_chunks is not None:
        as_int("--max-chunks", args.max_chunks, minimum=1)
    cfg = load_config(args.config, args.scale)
    if args.dry_run:
        points = points_of(cfg)
        print(describe_plan(cfg, points, plan_chunks(cfg, points)))
        return 0
    out = args.out or f"runs/sweep-{cfg['name'] or Path(args.config).stem}"
    res = run(args.config, out, scale=args.scale, progress=not args.no_progress, max_chunks=args.max_chunks,
              distributed=args.distributed)
    if res is None:
        print(f"sweep {out}: work remains (or another host finalises); run the same command again to continue")
        return 0
    print(f"sweep {out}: {len(res.points)} points, {res.stats['new_chunks']} new and "
          f"{res.stats['resumed_chunks']} resumed chunks; wrote {', '.join(res.stats['wrote'])}")
    if args.plot:
        figure = experiment_plot(res, Path(args.config)) or plot_generic(
            res, claim(out, "sweep", resume=True, flag="sweep directory"))
        print(f"wrote {figure}")
    return 0


__all__ = ["add_cli", "run_cli"]
