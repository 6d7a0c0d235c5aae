"""``collapse-jax discrete``: a discrete run from the command line."""

from __future__ import annotations

import argparse

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.results import SimulationResult, terminal_summary
from .plots import plot
from .simulate import simulate

REPORTED = ["gini_simpson", "surviving", "tv", "tail_lost", "absorbed"]


def add_cli(sub) -> None:
    p = sub.add_parser("discrete", help="categorical distributions re-estimated from their own samples",
                       description="Simulate chains of categorical distributions, each refitted to M samples "
                                   "of itself per generation (the paper's discrete model).")
    p.add_argument("--states", type=int, default=None, help="number of states K for uniform/zipf (default 100)")
    p.add_argument("--init", default="zipf:1.1", help="p_0: uniform | zipf:S | counts:PATH")
    p.add_argument("--tail-quantile", type=float, default=0.1, help="p_0 quantile that defines the tail")
    p.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    p.add_argument("--record-every", type=int, default=0, help="keep full distributions every k generations")
    p.add_argument("--dtype", default="float32", help="float32 | float64 (exact for any M)")
    add_process_arguments(p, samples=1000, generations=500, chains=10000)
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    def run() -> SimulationResult:
        return simulate(args.init, states=args.states, tail_quantile=args.tail_quantile,
                        metrics_every=args.metrics_every, record_every=args.record_every, dtype=args.dtype,
                        **process_kwargs(args))

    return run_and_save(args, "discrete", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    return [f"discrete: {result.chains} chains, {result.generations} generations",
            *terminal_summary(result, REPORTED)]


__all__ = ["add_cli", "run_cli", "report"]
