"""The ``collapse-jax`` command line: one subcommand per model family.

Each family module exposes ``add_cli(subparsers)``, which adds its parser and sets
``func(args) -> int``. Bad input raises :class:`~collapse_jax.InputError`; here it becomes one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from typing import Iterator

from .core.errors import InputError
from .core.rundir import RunDir, claim

# Family modules that contribute subcommands, imported lazily so `--help` stays fast.
COMMAND_MODULES = (
    "collapse_jax.discrete",
    "collapse_jax.gaussian",
    "collapse_jax.gmm",
    "collapse_jax.vae",
    "collapse_jax.lm.cli",
    "collapse_jax.sweep",
    "collapse_jax.demo",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors also exit 2, without traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="collapse-jax", description="Simulate model collapse (Shumailov et al., Nature 2024).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and name.startswith(err.name):  # a family not built yet
                continue
            raise
        module.add_cli(sub)
    return parser


def add_process_arguments(parser: argparse.ArgumentParser, *, samples: int, generations: int, chains: int) -> None:
    """The options every recursive-fitting family shares (see :mod:`collapse_jax.core.process`)."""
    g = parser.add_argument_group("process")
    g.add_argument("--samples", type=int, default=samples, help="sample size M (base of the schedule)")
    g.add_argument("--generations", type=int, default=generations)
    g.add_argument("--chains", type=int, default=chains, help="independent chains simulated at once")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--schedule", default="constant",
                   help="constant | linear | poly:A | geometric:R | list:M0,M1,...")
    g.add_argument("--workflow", default="replace", help="replace | accumulate | accumulate-subsample")
    g.add_argument("--alpha", type=float, default=None, help="weight of the new model (default 1 - beta - gamma)")
    g.add_argument("--beta", type=float, default=0.0, help="weight of the previous generation's data distribution")
    g.add_argument("--gamma", type=float, default=0.0, help="weight of the original (real) data")
    o = parser.add_argument_group("output")
    o.add_argument("--out", default=None, help="run directory to write (default runs/<family>-<timestamp>)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def process_kwargs(args: argparse.Namespace) -> dict:
    return dict(samples=args.samples, generations=args.generations, chains=args.chains, seed=args.seed,
                schedule=args.schedule, workflow=args.workflow, alpha=args.alpha, beta=args.beta,
                gamma=args.gamma, progress=not args.no_progress)


def default_out(family: str, out: str | None) -> str:
    if out:
        return out
    import time

    return f"runs/{family}-{time.strftime('%Y%m%d-%H%M%S')}"


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"collapse-jax {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"collapse-jax {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
