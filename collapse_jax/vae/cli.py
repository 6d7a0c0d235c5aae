"""``collapse-jax vae``: the VAE recursion from the command line."""

from __future__ import annotations

import argparse

from ..core.cli import add_process_arguments, process_kwargs, run_and_save
from ..core.results import SimulationResult
from .plots import plot
from .simulate import simulate


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("vae", help="VAE retrained on its own decoder's samples (paper SI)",
                              description="Train a VAE on real images, then each generation on the previous "
                                          "generation's samples (the paper's SI experiment).")
    add_process_arguments(p, samples=None, generations=5, chains=1)
    g = p.add_argument_group("vae")
    g.add_argument("--dataset", default="digits", help="'digits' (bundled 8x8) or a directory with MNIST IDX files")
    g.add_argument("--limit", type=int, default=None, help="use only the first N images")
    g.add_argument("--latent-dims", type=int, default=20)
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--batch-size", type=int, default=None, help="default 256 (MNIST size) or 128 (small images)")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--weight-decay", type=float, default=1e-5)
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    def run() -> SimulationResult:
        return simulate(args.dataset, latent_dims=args.latent_dims, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, weight_decay=args.weight_decay, limit=args.limit, **process_kwargs(args))

    return run_and_save(args, "vae", run, plot, report)


def report(result: SimulationResult) -> list[str]:
    s = result.summary()
    cfg = result.config
    lines = [f"vae: {cfg['dataset']} ({cfg['images']} images), {result.chains} chain(s), "
             f"{result.generations} generations"]
    for r, t in enumerate(result.rows):
        lines.append(f"  generation {t:3d}: latent std {s['latent_std']['mean'][r]:.4f}, pixel std "
                     f"{s['pixel_std']['mean'][r]:.4f}, real recon BCE {s['recon_bce']['mean'][r]:.3f}")
    return lines


__all__ = ["add_cli", "run_cli", "report"]
