"""Command-line plumbing shared by the families: the process options, the run directory, and the
run-save-report sequence every simulation subcommand follows."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Callable, Iterator

from .errors import InputError
from .results import SimulationResult
from .rundir import RunDir, claim
from .simulation import Interrupted


def add_process_arguments(parser: argparse.ArgumentParser, *, samples: int | None, generations: int,
                          chains: int) -> None:
    """The options every recursive-fitting family shares (see :class:`collapse_jax.Process`)."""
    g = parser.add_argument_group("process")
    g.add_argument("--samples", type=int, default=samples, help="sample size M (base of the schedule)")
    g.add_argument("--generations", type=int, default=generations)
    g.add_argument("--chains", type=int, default=chains, help="independent chains simulated at once")
    g.add_argument("--first-chain", type=int, default=0,
                   help="index of the first chain: chains first..first+chains-1 of a larger run, exactly")
    g.add_argument("--seed", type=int, default=0, help="random seed, 0 <= seed < 2^64")
    g.add_argument("--schedule", default="constant",
                   help="sample sizes: constant | linear | poly:A | geometric:R | list:M0,M1,...")
    g.add_argument("--workflow", default="replace", help="replace | accumulate | accumulate-subsample")
    weight = "a number or a schedule: linear:START,END | exp:START,RATIO | list:W0,W1,..."
    g.add_argument("--alpha", default=None, help=f"weight of the new model (default 1 - beta - gamma); {weight}")
    g.add_argument("--beta", default=None, help=f"weight of the previous generation's data distribution; {weight}")
    g.add_argument("--gamma", default=None, help=f"weight of the original (real) data; {weight}")
    add_output_arguments(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    o = parser.add_argument_group("output")
    o.add_argument("--out", default=None, help="run directory to write (default runs/<family>-<timestamp>)")
    o.add_argument("--overwrite", action="store_true",
                   help="replace the files collapse-jax wrote in an existing run directory (nothing else)")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def process_kwargs(args: argparse.Namespace) -> dict:
    return dict(samples=args.samples, generations=args.generations, chains=args.chains, seed=args.seed,
                first_chain=args.first_chain, schedule=args.schedule, workflow=args.workflow, alpha=args.alpha,
                beta=args.beta, gamma=args.gamma, progress=not args.no_progress)


def default_out(family: str, out: str | None) -> str:
    return out or f"runs/{family}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextlib.contextmanager
def claimed_out(path: str, overwrite: bool, kind: str) -> Iterator[RunDir]:
    """The run directory, claimed before any work: a bad or occupied ``--out`` fails now, not after
    the compute (see :func:`collapse_jax.core.rundir.claim`). A run that fails before writing
    anything leaves no folder behind."""
    out = claim(path, kind, overwrite=overwrite)
    try:
        yield out
    except BaseException:
        out.discard()
        raise


def run_and_save(args: argparse.Namespace, family: str, run: Callable[[], SimulationResult],
                 plot: Callable[[SimulationResult, RunDir], None] | None,
                 report: Callable[[SimulationResult], list[str]]) -> int:
    """Claim ``--out``, run, save the run directory with its plots, print the report.

    Ctrl-C saves the generations completed so far as a partial run (its config says
    ``generations_done``) and says so."""
    with claimed_out(default_out(family, args.out), args.overwrite, family) as out:
        try:
            result = run()
        except Interrupted as stop:
            partial = stop.result
            done = partial.config.get("generations_done", 0)
            total = partial.config["process"]["generations"]
            path = partial.save(out, plot=plot) if done else None
            where = (f"the {done} completed generations are saved in {path} (a partial run: config.json has "
                     "generations_done)") if path else "nothing was saved (no generation had completed)"
            print(f"collapse-jax {family}: interrupted after {done} of {total} generations; {where}", file=sys.stderr)
            return 130
        path = result.save(out, plot=plot)
    for line in report(result):
        print(line)
    print(f"wrote {path}")
    return 0


def parse_int_list(flag: str, text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{flag} must be comma-separated integers, got {text!r}") from None


__all__ = ["add_process_arguments", "add_output_arguments", "process_kwargs", "default_out", "claimed_out",
           "run_and_save", "parse_int_list"]
