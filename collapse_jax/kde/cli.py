"""``collapse-jax kde``: recursive kernel density estimation from the command line."""

from __future__ import annotations

import argparse

import numpy as np

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.errors import as_float, as_int, require
from ..core.results import SimulationResult, terminal_summary
from .plots import plot
from .simulate import simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("kde", help="Gaussian kernel density estimates refitted to their samples (Kazdan et al.)",
                              description="Simulate chains of Gaussian KDEs, each fitted to M points sampled from "
                                          "its predecessor (resample a centre, add kernel noise).")
    add_process_arguments(p, samples=100, generations=100, chains=1000)
    g = p.add_argument_group("kde")
    g.add_argument("--dim", type=int, default=1, help="dimension d (D_0 = N(0, variance * I))")
    g.add_argument("--variance", type=float, default=1.0, help="isotropic variance of D_0")
    g.add_argument("--bandwidth", default="0.5",
                   help="a number h | scott | silverman (scikit-learn's) | scott-cov | silverman-cov (scipy's)")
    g.add_argument("--original", default="gaussian", help="D_0: gaussian | student-t:DF | mixture:SEP")
    g.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    g.add_argument("--dtype", default="float32", help="float32 | float64")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    d = as_int("--dim", args.dim, minimum=1)
    variance = as_float("--variance", args.variance)
    require(variance > 0, f"--variance must be > 0, got {variance}")
    bandwidth = args.bandwidth
    try:
        bandwidth = float(bandwidth)
    except ValueError:
        pass  # a rule's name; simulate() checks it

    def run() -> SimulationResult:
        return simulate(np.zeros(d), variance * np.eye(d), bandwidth=bandwidth, original=args.original,
                        metrics_every=args.metrics_every, dtype=args.dtype, **process_kwargs(args))

    return run_and_save(args, "kde", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    return [f"kde: d={result.config['dim']}, bandwidth {result.config['bandwidth']}, {result.chains} chains, "
            f"{result.generations} generations", *terminal_summary(result, ["variance", "mean_sq"])]


__all__ = ["add_cli", "run_cli", "report"]
