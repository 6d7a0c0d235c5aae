"""The ``collapse-jax`` command line: one subcommand per model family.

Each family module exposes ``add_cli(subparsers)``, which adds its parser and sets
``func(args) -> int``. Bad input raises :class:`~collapse_jax.InputError`; here it becomes one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .core import devices
from .core.errors import InputError

# The modules that contribute subcommands, each through its add_cli(subparsers).
COMMAND_MODULES = (
    "collapse_jax.discrete",
    "collapse_jax.gaussian",
    "collapse_jax.gmm",
    "collapse_jax.vae",
    "collapse_jax.regression",
    "collapse_jax.kde",
    "collapse_jax.poisson",
    "collapse_jax.lm.cli",
    "collapse_jax.sweep",
    "collapse_jax.demo",
)
# Commands that keep JAX's single CPU device: the language model shards its batches over every
# device (lm/sharding.py), which on a CPU would only split one core's work.
ONE_CPU_DEVICE = ("lm",)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors also exit 2, without traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="collapse-jax", description="Simulate model collapse (Shumailov et al., Nature 2024).")
    cpu_devices_help = ("JAX CPU devices for simulations: the chains run on all of them at once (default: "
                        f"${devices.ENV}, else auto = one per core; results do not depend on it)")
    parser.add_argument("--cpu-devices", default=None, metavar="N|auto", help=cpu_devices_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    for command, sub_parser in sub.choices.items():  # also accepted after the command's name
        if command not in ONE_CPU_DEVICE:
            sub_parser.add_argument("--cpu-devices", default=argparse.SUPPRESS, metavar="N|auto", help=cpu_devices_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in ONE_CPU_DEVICE:
            devices.use_cpu_cores(args.cpu_devices)
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"collapse-jax {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = getattr(args, "on_interrupt", "nothing was saved")
        print(f"collapse-jax {args.command}: interrupted; {kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
