"""``collapse-jax regression``: recursive least squares from the command line."""

from __future__ import annotations

import argparse

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.results import SimulationResult, terminal_summary
from .plots import plot
from .simulate import simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("regression", help="linear regression refitted to its own labels (Gerstgrasser et al.)",
                              description="Simulate chains of least-squares fits, each trained on T rows labelled "
                                          "by its predecessor plus noise; --samples is T.")
    add_process_arguments(p, samples=40, generations=100, chains=2000)
    g = p.add_argument_group("regression")
    g.add_argument("--dim", type=int, default=10, help="dimension d of the weights")
    g.add_argument("--noise", default="1.0", help="label noise σ: a number or a schedule (list:S0,S1,... etc.)")
    g.add_argument("--ridge", type=float, default=0.0, help="ridge penalty λ (0: least squares)")
    g.add_argument("--design", default="fresh", help="fresh (a new Gaussian design per generation) | fixed")
    g.add_argument("--design-seed", type=int, default=0, help="seed of the fixed design and of w*")
    g.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    g.add_argument("--dtype", default="float32", help="float32 | float64")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    def run() -> SimulationResult:
        return simulate(dim=args.dim, noise=args.noise, ridge=args.ridge, design=args.design,
                        design_seed=args.design_seed, metrics_every=args.metrics_every, dtype=args.dtype,
                        **process_kwargs(args))

    return run_and_save(args, "regression", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    cfg = result.config
    return [f"regression: d={cfg['dim']}, {cfg['design']} design, {result.chains} chains, "
            f"{result.generations} generations", *terminal_summary(result, ["test_error"])]


__all__ = ["add_cli", "run_cli", "report"]
