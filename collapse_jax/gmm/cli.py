"""``collapse-jax gmm``: the Gaussian-mixture recursion from the command line."""

from __future__ import annotations

import argparse

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.results import SimulationResult, terminal_summary
from .data import PRESETS, load_data
from .plots import plot
from .simulate import HELDOUT, RECORD_CHAINS, simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("gmm", help="Gaussian mixture refitted by EM on its own samples (paper SI)",
                              description="Fit a Gaussian mixture to real data, then every generation sample from "
                                          "the fit and refit it by EM (the paper's SI experiment).")
    add_process_arguments(p, samples=None, generations=2000, chains=64)
    g = p.add_argument_group("gmm")
    g.add_argument("--preset", default="blob", help=f"real data preset: {' | '.join(PRESETS)}")
    g.add_argument("--data", default=None, help="real data file instead of a preset (.npy, .csv or whitespace text)")
    g.add_argument("--real-samples", type=int, default=None,
                   help="real points per chain drawn from a preset (default: --samples, else 1000)")
    g.add_argument("--components", type=int, default=2)
    g.add_argument("--tol", type=float, default=1e-5)
    g.add_argument("--max-iter", type=int, default=2000)
    g.add_argument("--reg-covar", type=float, default=1e-6)
    g.add_argument("--init", default="kmeans++", help="kmeans++ (a fresh fit every generation) | warm")
    g.add_argument("--heldout", type=int, default=HELDOUT, help="held-out real points (presets)")
    g.add_argument("--scheduler", default="async",
                   help="async (every chain at its own pace) | sync (all chains generation by generation)")
    g.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    g.add_argument("--record-every", type=int, default=None,
                   help="record the first chains' mixtures every k generations (default: every metrics row)")
    g.add_argument("--record-chains", type=int, default=RECORD_CHAINS)
    g.add_argument("--dtype", default="float32", help="float32 | float64")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    data = load_data(args.data) if args.data else args.preset

    def run() -> SimulationResult:
        return simulate(data, components=args.components, real_samples=args.real_samples, tol=args.tol,
                        max_iter=args.max_iter, reg_covar=args.reg_covar, init=args.init, heldout=args.heldout,
                        scheduler=args.scheduler, metrics_every=args.metrics_every, record_every=args.record_every,
                        record_chains=args.record_chains, dtype=args.dtype, **process_kwargs(args))

    return run_and_save(args, "gmm", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    cfg = result.config
    g = result.generations
    at = sorted({int(result.rows[result.rows <= t][-1]) for t in (0, 1, 50, 200, g) if t <= g})
    return [f"gmm: {cfg['data']}, K={cfg['components']}, {cfg['process']['workflow']}, {result.chains} chains, "
            f"{g} generations",
            *terminal_summary(result, ["l2", "std_0", "real_loglik"], at=at)]


__all__ = ["add_cli", "run_cli", "report"]
