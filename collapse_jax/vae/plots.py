"""Figures of a VAE run: a grid of samples per generation, the generations side by side, and the
metrics against the generation."""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..core import plots
from ..core.results import SimulationResult
from ..core.rundir import atomic_write_bytes

GRID_ROWS = 11  # generations shown at most in vae_grid.png
PER_ROW = 16  # images per generation in vae_grid.png


def tile(images_NHW: np.ndarray, cols: int) -> np.ndarray:
    """Images side by side in a grid with 1-pixel white borders."""
    n, h, w = images_NHW.shape
    rows = math.ceil(n / cols)
    out = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1), np.float32)
    for i, img in enumerate(images_NHW):
        r, c = divmod(i, cols)
        out[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = img
    return out


def write_sample_grids(result: SimulationResult, out) -> None:
    """``samples_gen{t}.png``: chain 0's 64 samples of generation t, 8 x 8, upscaled so that 8x8
    digits stay visible."""
    plt = plots.plt
    grids = result.trajectory["samples"][:, 0]
    for t, imgs in zip(result.trajectory["generation"], grids):
        picture = tile(imgs, 8)
        scale = max(1, 320 // picture.shape[1])  # nearest-neighbour upscaling
        buf = io.BytesIO()
        plt.imsave(buf, picture.repeat(scale, 0).repeat(scale, 1), cmap="gray", vmin=0.0, vmax=1.0, format="png")
        atomic_write_bytes(out / f"samples_gen{int(t):03d}.png", buf.getvalue())


def shown_generations(generations: int) -> list[int]:
    gens = list(range(generations + 1))
    if len(gens) > GRID_ROWS:
        gens = sorted(set(np.linspace(0, generations, GRID_ROWS).round().astype(int).tolist()))
    return gens


def plot_grid(result: SimulationResult, path) -> None:
    """``vae_grid.png``: 16 samples of chain 0 per row, one row per generation (11 at most)."""
    plt = plots.plt
    grids = result.trajectory["samples"][:, 0]
    gens = shown_generations(result.generations)
    h, w = grids.shape[-2:]
    width = 8.0
    row_height = width * (h + 1) / (PER_ROW * (w + 1) + 1)
    fig, axes = plt.subplots(len(gens), 1, figsize=(width + 0.9, len(gens) * (row_height + 0.22) + 0.6),
                             squeeze=False)
    for ax, t in zip(axes[:, 0], gens):
        ax.imshow(tile(grids[t, :PER_ROW], PER_ROW), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"gen {t}", rotation=0, ha="right", va="center", fontsize=9)
    cfg = result.config
    fig.suptitle(f"VAE samples, retrained on its own output (chain 0; {cfg['dataset']}, "
                 f"{cfg['latent_dims']} latent dims, {cfg['epochs']} epochs per generation)", fontsize=10)
    plots.save(fig, path)


PANELS = (("latent_std", "Latent spread of samples", "std of the generation-0 encoder's means"),
          ("pixel_std", "Diversity of samples", "per-pixel std across samples"),
          ("recon_bce", "Reconstruction of real images", "BCE per image (nats)"),
          ("train_loss", "Training loss", "last epoch's mean negative ELBO"))


def plot_metrics(result: SimulationResult, path) -> None:
    """``vae_metrics.png``: the four metrics against the generation (integer ticks), mean over
    chains with their 5–95% band when there are several."""
    summary = result.summary()
    g = result.rows
    fig, axes = plots.figure(2, 2, width=4.6, height=3.4)
    for ax, (key, main, ylabel) in zip(axes, PANELS):
        s = summary[key]
        label = "mean over chains" if result.chains > 1 else "chain 0"
        ax.plot(g, s["mean"], "o-", ms=3.5, lw=1.5, label=label)
        if result.chains > 1:
            ax.fill_between(g, s["q05"], s["q95"], alpha=0.25, lw=0, label="5–95% of chains")
        if key == "pixel_std":
            ax.axhline(result.config["real_pixel_std"], color="k", ls="--", lw=1, label="real data")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.set(xlabel="generation", ylabel=ylabel)
        ax.grid(alpha=0.3)
        plots.title(ax, main)
        if key == "pixel_std" or result.chains > 1:
            ax.legend(fontsize=8, loc="best")
    cfg = result.config
    gamma = cfg["process"]["gamma"]
    chains = f"{result.chains} chain" + ("s" if result.chains > 1 else "")
    fig.suptitle(f"VAE retrained on its own samples: {cfg['dataset']}, {chains}"
                 + (f", γ = {gamma}" if gamma not in (0, 0.0) else ""), fontsize=10)
    plots.save(fig, path)


def plot(result: SimulationResult, out) -> None:
    """samples_gen{t}.png, vae_grid.png and vae_metrics.png in ``out``."""
    write_sample_grids(result, out)
    plot_grid(result, out / "vae_grid.png")
    plot_metrics(result, out / "vae_metrics.png")


__all__ = ["plot", "plot_grid", "plot_metrics", "write_sample_grids", "tile"]
