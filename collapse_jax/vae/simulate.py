"""``vae.simulate``: a VAE retrained, generation after generation, on its own decoder's output.

The loop stays in Python, one training run per chain and generation (a run is thousands of
jitted Adam steps, so nothing is gained by tracing the loop). Randomness is addressable as in the
engine: chain c's model trained on real data uses ``stream(chain key, "initial")``, its process
generation i the generation key ``fold_in(chain key, i)``, and every generation's metrics the same
prior draws, ``stream(root, "reference")``. So chain c's numbers depend on (seed, c) alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from ..core import simulation, streams
from ..core.cache import enable_compilation_cache
from ..core.errors import InputError, as_float, as_int, require
from ..core.process import Process
from ..core.progress import Progress
from ..core.results import SimulationResult
from .data import as_images
from .model import default_batch_size, default_channels
from .train import GRID_IMAGES, Setup, Trainer

METRICS = ("latent_std", "latent_mean_abs", "pixel_std", "recon_bce", "train_loss")


def simulate(
    dataset: "str | Path | np.ndarray" = "digits",
    *,
    process: Process | None = None,
    samples: int | None = None,
    generations: int | None = None,
    schedule: "str | Sequence[int] | None" = None,
    workflow: str | None = None,
    alpha: Any = None,
    beta: Any = None,
    gamma: Any = None,
    chains: int = 1,
    seed: int = 0,
    first_chain: int = 0,
    latent_dims: int = 20,
    epochs: int = 30,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    channels: Sequence[int] | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Train a VAE on real images, then each generation on the previous generation's samples.

    ``dataset``: ``'digits'`` (scikit-learn's 8x8 digits), a directory of MNIST IDX files, or an
    array of images (N, H, W) in [0, 1]; ``limit`` keeps the first N images. The process:
    ``process=`` or its keywords: ``samples`` is the number of training images per epoch of a
    generated generation (default the dataset's size; a schedule may grow it), ``generations``
    (default 5), ``gamma`` the fraction of real images mixed into every generated batch (a number
    or a schedule such as ``'linear:0.5,0'``); replace only, beta = 0. Chains are independent runs
    (chain c of seed s is the same with any number of chains; ``first_chain`` picks a slice).

    Metrics, shape (generations + 1, chains), row t = the model after t generations of recursion
    (row 0: trained on real data): ``latent_std`` (std of the generation-0 encoder's latent means
    of generated images, the notebook's measure), ``latent_mean_abs``, ``pixel_std`` (mean
    per-pixel std across generated images), ``recon_bce`` (real images' reconstruction loss),
    ``train_loss`` (last epoch's mean negative ELBO). ``trajectory``: ``loss_curve`` (generation,
    chain, epoch), ``samples`` (generation, chain, 64, H, W) and ``generation``. Ctrl-C raises
    :class:`collapse_jax.core.simulation.Interrupted` with the generations every chain completed.
    """
    latent_dims = as_int("latent_dims", latent_dims, minimum=1)
    epochs = as_int("epochs", epochs, minimum=1)
    chains, first_chain = streams.check_chains(chains, first_chain)
    seed = streams.check_seed(seed)
    lr = as_float("lr", lr)
    require(lr > 0, f"lr must be > 0, got {lr}")
    weight_decay = as_float("weight_decay", weight_decay, minimum=0.0)
    images, name = as_images(dataset, limit)
    n, height, width = images.shape
    batch_size = as_int("batch_size", default_batch_size(height) if batch_size is None else batch_size, minimum=1)
    channels = tuple(default_channels(height) if channels is None else channels)
    require(len(channels) == 2, f"channels must be two numbers (c1, c2), got {channels}")
    channels = tuple(as_int("channels", c, minimum=1) for c in channels)
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": n, "generations": 5})
    if process.workflow != "replace":
        raise InputError(f"the VAE experiment supports the replace workflow only (every generation trains on "
                         f"fresh decoder samples), got workflow {process.workflow!r}")
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the VAE family (it would need every earlier decoder); "
                         "use gamma to mix in real images")
    G = process.generations
    table = process.table(0, G)

    enable_compilation_cache()
    trainer = Trainer(Setup(height, width, latent_dims, channels, lr, weight_decay, batch_size), images)
    chain_keys = streams.chain_keys(seed, chains, first_chain)
    initial_keys = streams.stream(chain_keys, "initial")
    eval_key = streams.stream(streams.root_key(seed), "reference")  # the same prior draws every generation
    metrics = {k: np.zeros((G + 1, chains), np.float32) for k in METRICS}
    curves = np.zeros((G + 1, chains, epochs), np.float32)
    grids = np.zeros((G + 1, chains, GRID_IMAGES, height, width), np.float32)
    config = {"dataset": name, "images": n, "height": height, "width": width, "latent_dims": latent_dims,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
              "channels": list(channels), "real_pixel_std": float(np.mean(np.std(images, axis=0))),
              "parameters": trainer.parameter_count(), "process": process.to_config(), "chains": chains,
              "seed": seed, "first_chain": first_chain, "sizes": process.sizes().tolist()}

    def result(done: int) -> SimulationResult:
        cfg = config if done == G else {**config, "generations_done": done}
        rows = slice(0, done + 1)
        return SimulationResult("vae", cfg, {k: v[rows] for k, v in metrics.items()},
                                trajectory={"loss_curve": curves[rows], "samples": grids[rows],
                                            "generation": np.arange(done + 1)})

    params: list[Any] = [None] * chains
    origin: list[Any] = [None] * chains
    done = -1  # rows every chain has completed, minus one
    bar = Progress((G + 1) * chains, "vae", enabled=progress)
    try:
        for t in range(G + 1):  # row t; t = 0 trains on real data, t = i + 1 is process generation i
            for c in range(chains):
                key = initial_keys[c] if t == 0 else jax.random.fold_in(chain_keys[c], t - 1)
                k_init, k_train = jax.random.split(key)
                fresh = trainer.init(k_init)
                if t == 0:
                    params[c], curve = trainer.train(fresh, fresh, k_train, epochs=epochs, samples=n, from_real=True)
                    origin[c] = params[c]
                else:
                    params[c], curve = trainer.train(fresh, params[c], k_train, epochs=epochs,
                                                     samples=int(table["m"][t - 1]), from_real=False,
                                                     gamma=float(table["gamma"][t - 1]))
                values, imgs = trainer.evaluate(params[c], origin[c], eval_key)
                for k, v in values.items():
                    metrics[k][t, c] = float(v)
                metrics["train_loss"][t, c] = float(curve[-1])
                curves[t, c] = np.asarray(curve)
                grids[t, c] = np.asarray(imgs)
                bar.update(1)
            done = t
    except KeyboardInterrupt:
        if done < 0:
            raise
        raise simulation.Interrupted(result(done)) from None
    finally:
        bar.close()
    return result(G)


__all__ = ["simulate", "METRICS"]
