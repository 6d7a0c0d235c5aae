"""``collapse-jax poisson``: recursive Poisson rate fitting from the command line."""

from __future__ import annotations

import argparse

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.results import SimulationResult, terminal_summary
from .plots import plot
from .simulate import simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("poisson", help="Poisson rates refitted by their sample means (Suresh et al.)",
                              description="Simulate chains of Poisson rates, each refitted to the mean of M "
                                          "samples of itself per generation; λ = 0 is absorbing.")
    add_process_arguments(p, samples=10, generations=500, chains=5000)
    g = p.add_argument_group("poisson")
    g.add_argument("--rate", type=float, default=1.0, help="the original rate λ_0")
    g.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    g.add_argument("--dtype", default="float32", help="float32 | float64 (exact integer counts beyond 2^24)")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    def run() -> SimulationResult:
        return simulate(args.rate, metrics_every=args.metrics_every, dtype=args.dtype, **process_kwargs(args))

    return run_and_save(args, "poisson", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    return [f"poisson: λ0={result.config['rate0']:g}, {result.chains} chains, {result.generations} generations",
            *terminal_summary(result, ["rate", "absorbed"])]


__all__ = ["add_cli", "run_cli", "report"]
