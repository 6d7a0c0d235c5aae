"""``collapse-jax gaussian``: recursive Gaussian fitting from the command line."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..core.cli import add_process_arguments, parse_int_list, process_kwargs, run_and_save
from ..core.errors import InputError, as_float, as_int, require
from ..core.results import SimulationResult, terminal_summary
from .original import data_original
from .plots import plot
from .simulate import compare_schedules, simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("gaussian", help="recursive fitting of a d-dimensional Gaussian (Theorem 3.1)",
                              description="Simulate chains of Gaussians, each refitted to M samples of itself per "
                                          "generation (the paper's Theorem 3.1).")
    add_process_arguments(p, samples=100, generations=200, chains=1000)
    g = p.add_argument_group("gaussian")
    g.add_argument("--dim", type=int, default=None, help="dimension d (D_0 = N(0, variance * I) unless --cov); "
                                                         "default 2, or the dimension of --cov / --original data")
    g.add_argument("--variance", type=float, default=1.0, help="isotropic variance of D_0")
    g.add_argument("--cov", default=None, help="a .npy file with the d x d covariance of D_0")
    g.add_argument("--estimator", default="unbiased", help="unbiased | mle")
    g.add_argument("--sampler", default="stats", help="stats (sufficient statistics) | points (explicit points; "
                                                       "also runs singular fits, M <= d)")
    g.add_argument("--location", default="mean", help="mean | median (coordinate-wise sample median; points sampler)")
    g.add_argument("--original", default="gaussian",
                   help="D_0: gaussian | student-t:DF | mixture:SEP | data:PATH.npy (points sampler for non-Gaussian)")
    g.add_argument("--dtype", default="float32", help="float32 | float64")
    g.add_argument("--metrics-every", type=int, default=1, help="a metrics row every k generations")
    g.add_argument("--spectral-every", default="log",
                   help="where W2 (d > 1) and the extreme eigenvalues are computed (exactly; NaN elsewhere): "
                        "log = every generation to 16, then 4 log-spaced per doubling, and the last; k = every "
                        "k-th generation and the last (1 = all); 0 = never; auto = about 200 rows")
    g.add_argument("--compare-schedules", action="store_true",
                   help="also run constant, linear, poly:1.5 and geometric schedules side by side")
    g.add_argument("--ellipse-generations", default=None,
                   help="comma-separated generations for the d = 2 ellipse picture (default: spread over the run)")
    p.set_defaults(func=run_cli)


def _load(flag: str, path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {flag} {path!r}: {err}") from None


def _original(args: argparse.Namespace) -> tuple[Any, Any, Any, int]:
    """(mean0, cov0, original, d) from --dim, --variance, --cov and --original; conflicts refused."""
    dim = None if args.dim is None else as_int("--dim", args.dim, minimum=1)
    original: Any = args.original
    if isinstance(original, str) and original.startswith("data:"):
        require(args.cov is None, "--cov and --original data:PATH both give D_0's covariance; give one")
        data = data_original(_load("--original data", original[5:]))
        if dim is not None and dim != data.dim:
            raise InputError(f"--dim {dim} conflicts with --original {original}, whose points have {data.dim} "
                             "dimensions; give one or make them agree")
        return None, None, data, data.dim
    if args.cov is not None:
        cov0 = _load("--cov", args.cov)
        if dim is not None and cov0.ndim == 2 and cov0.shape[0] != dim:
            raise InputError(f"--dim {dim} conflicts with --cov {args.cov}, which is {cov0.shape[0]} x "
                             f"{cov0.shape[1]}; give one or make them agree")
        d = cov0.shape[0] if cov0.ndim == 2 else (dim or 2)
        return np.zeros(d), cov0, original, d
    variance = as_float("--variance", args.variance)
    require(variance > 0, f"--variance must be > 0, got {variance}")
    d = dim or 2
    return np.zeros(d), variance * np.eye(d), original, d


def run_cli(args: argparse.Namespace) -> int:
    kw = process_kwargs(args)
    mean0, cov0, original, d = _original(args)
    generations = as_int("--generations", kw["generations"], minimum=0)
    spectral: Any
    if args.spectral_every == "log":
        spectral = "log"
    elif args.spectral_every == "auto":
        spectral = max(1, generations // 200)
    else:
        try:
            spectral = int(args.spectral_every)
        except ValueError:
            raise InputError(f"--spectral-every must be an integer, 'log' or 'auto', got {args.spectral_every!r}") from None
    ellipses = parse_int_list("--ellipse-generations", args.ellipse_generations)
    if ellipses:
        require(d == 2, f"--ellipse-generations draws the d = 2 ellipse picture; this run has d = {d}")
        late = [g for g in ellipses if not 0 <= g <= generations]
        require(not late, f"--ellipse-generations {args.ellipse_generations} asks for generation(s) "
                          f"{', '.join(map(str, late))} of a run of {generations} generations")
    if args.compare_schedules:
        require(not isinstance(original, str) or original == "gaussian",
                "--compare-schedules needs a Gaussian D_0")
    comparison = {}

    def run() -> SimulationResult:
        result = simulate(mean0, cov0, estimator=args.estimator, sampler=args.sampler, location=args.location,
                          original=original,
                          dtype=args.dtype, spectral_every=spectral, metrics_every=args.metrics_every, **kw)
        if args.compare_schedules:
            comparison.update(compare_schedules(mean0, cov0, samples=kw["samples"], generations=generations,
                                                chains=kw["chains"], seed=kw["seed"], estimator=args.estimator,
                                                dtype=args.dtype, progress=kw["progress"]))
        return result

    def draw(result: SimulationResult, out) -> None:
        plot(result, out, comparison=comparison, ellipse_generations=ellipses)

    return run_and_save(args, "gaussian", run, draw, report)


def report(result: SimulationResult) -> list[str]:
    g = result.generations
    return [f"gaussian: d={result.config['dim']}, {result.chains} chains, {g} generations",
            *terminal_summary(result, ["w2", "mean_sq", "logdet", "trace", "sigma"], at=[g])]


__all__ = ["add_cli", "run_cli", "report"]
