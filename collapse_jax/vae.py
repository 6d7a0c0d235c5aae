"""A VAE retrained on its own decoder's output (THEORY.md §4.2), in Flax NNX and optax.

Generation 0 trains on real images. Generation t trains for the same number of epochs on images
decoded from prior samples of generation t - 1: every batch is ``sigmoid(decoder(z))`` with fresh
``z ~ N(0, I)``, the decoder's means used directly as images, as in the official notebook.

Architecture (the notebook's, adapted to the image size): encoder conv(1->c1, k4 s2 p1) ->
conv(c1->c2, k4 s2 p1) -> linear heads for the mean and log-variance; the decoder mirrors it with
transposed convolutions and a sigmoid. Loss: binary cross-entropy (summed over pixels) + KL, per
image. Optimiser: Adam with L2 weight decay (PyTorch's ``Adam(weight_decay=...)``).

Data: scikit-learn's bundled 8x8 digits (``'digits'``; runs offline), or MNIST from a directory of
the standard IDX files (``train-images-idx3-ubyte``, optionally gzipped).
"""

from __future__ import annotations

import argparse
import gzip
import io
import math
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .core import engine
from .core.errors import InputError, as_float, as_int, require
from .core.process import Process
from .core.results import SimulationResult
from .core.rundir import atomic_write_bytes

IDX_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")
EVAL_SAMPLES = 1000
GRID_IMAGES = 64
RECON_IMAGES = 2000  # real images whose reconstruction loss is reported (the first ones)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_digits_images() -> np.ndarray:
    """scikit-learn's 1797 handwritten 8x8 digits, scaled to [0, 1], shape (N, 8, 8) float32."""
    from sklearn.datasets import load_digits

    return (load_digits().images / 16.0).astype(np.float32)


def read_idx_images(path: str | Path) -> np.ndarray:
    """Images from one IDX3 file (MNIST's format), scaled to [0, 1], shape (N, rows, cols)."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read image file {path}: {err}") from None
    require(len(raw) >= 16, f"{path} is not an IDX image file: {len(raw)} bytes, shorter than its header")
    magic, n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    require(magic == 0x00000803,
            f"{path} is not an IDX image file: magic number {magic:#010x}, expected 0x00000803 (unsigned bytes, 3-D)")
    require(n > 0 and rows > 0 and cols > 0, f"{path} declares an empty image set ({n} x {rows} x {cols})")
    expected = 16 + n * rows * cols
    require(len(raw) == expected,
            f"{path} is malformed: {n} images of {rows}x{cols} need {expected} bytes, the file has {len(raw)}")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return (images / 255.0).astype(np.float32)


def load_images(dataset: str | Path, limit: int | None = None) -> tuple[np.ndarray, str]:
    """``'digits'`` or a directory holding MNIST's ``train-images-idx3-ubyte`` (``.gz`` accepted)."""
    if isinstance(dataset, str) and dataset == "digits":
        images, name = load_digits_images(), "digits"
    else:
        folder = Path(dataset)
        require(folder.exists(), f"image directory {folder} does not exist (use 'digits' for the bundled data)")
        require(folder.is_dir(), f"{folder} is not a directory; expected a folder holding {IDX_NAMES[0]}")
        candidates = [folder / (n + ext) for n in IDX_NAMES for ext in ("", ".gz")]
        found = [p for p in candidates if p.is_file()]
        require(bool(found), f"no MNIST training images in {folder}: expected one of "
                             f"{', '.join(p.name for p in candidates)}")
        images, name = read_idx_images(found[0]), str(folder)
    if limit is not None:
        limit = as_int("limit", limit, minimum=1)
        images = images[:limit]
    return images, name


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def default_channels(height: int) -> tuple[int, int]:
    """The notebook's (64, 128) at MNIST size; (16, 32) for small images, to stay CPU-friendly."""
    return (64, 128) if height >= 28 else (16, 32)


def default_batch_size(height: int) -> int:
    """The notebook's 256 at MNIST size; 128 for the 1797 small digits (14 steps an epoch)."""
    return 256 if height >= 28 else 128


class VAE(nnx.Module):
    """Convolutional VAE for (H, W) grey images, H and W divisible by 4."""

    def __init__(self, height: int, width: int, latent_dims: int, channels: tuple[int, int], *, rngs: nnx.Rngs):
        c1, c2 = channels
        self.shape = (height // 4, width // 4, c2)
        flat = (height // 4) * (width // 4) * c2
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), rngs=rngs)
        self.enc1 = nnx.Conv(1, c1, **conv)
        self.enc2 = nnx.Conv(c1, c2, **conv)
        self.mu = nnx.Linear(flat, latent_dims, rngs=rngs)
        self.logvar = nnx.Linear(flat, latent_dims, rngs=rngs)
        self.dec_in = nnx.Linear(latent_dims, flat, rngs=rngs)
        # 'SAME' transposed convolutions with stride 2 double the size, as PyTorch's k4 s2 p1 does.
        self.dec1 = nnx.ConvTranspose(c2, c1, (4, 4), strides=(2, 2), padding="SAME", rngs=rngs)
        self.dec2 = nnx.ConvTranspose(c1, 1, (4, 4), strides=(2, 2), padding="SAME", rngs=rngs)

    def encode(self, x_BHW: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = jax.nn.relu(self.enc1(x_BHW[..., None]))
        h = jax.nn.relu(self.enc2(h)).reshape(x_BHW.shape[0], -1)
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z_BL: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.dec_in(z_BL)).reshape((z_BL.shape[0], *self.shape))
        h = jax.nn.relu(self.dec1(h))
        return self.dec2(h)[..., 0]

    def decode(self, z_BL: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.decode_logits(z_BL))


def _bce_sum(logits_BHW: jax.Array, x_BHW: jax.Array) -> jax.Array:
    return jnp.sum(optax.sigmoid_binary_cross_entropy(logits_BHW, x_BHW), axis=(1, 2))


def negative_elbo(model: VAE, x_BHW: jax.Array, key: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Mean over the batch of BCE (summed over pixels) + KL, with one reparameterised sample."""
    mu, logvar = model.encode(x_BHW)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
    bce = _bce_sum(model.decode_logits(z), x_BHW)
    kl = -0.5 * jnp.sum(1.0 + logvar - mu**2 - jnp.exp(logvar), axis=-1)
    return jnp.mean(bce + kl), (jnp.mean(bce), jnp.mean(kl))


# ---------------------------------------------------------------------------------------------
# Training one generation
# ---------------------------------------------------------------------------------------------


class _Trainer:
    """Jitted training and evaluation for one architecture (compiled once per step count)."""

    def __init__(self, height, width, latent_dims, channels, lr, weight_decay, batch_size, gamma, real):
        self.hw, self.latent = (height, width), latent_dims
        self.channels, self.batch, self.gamma = channels, batch_size, gamma
        self.real = jnp.asarray(real)  # passed to the jitted functions as an argument, never baked in
        self.recon_real = self.real[:RECON_IMAGES]
        self.tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr))
        self.graphdef, _ = nnx.split(VAE(height, width, latent_dims, channels, rngs=nnx.Rngs(0)))
        self._train = jax.jit(self._train_impl, static_argnames=("epochs", "steps", "from_real"))
        self._eval = jax.jit(self._eval_impl)

    def init(self, key: jax.Array):
        seed = jax.random.randint(key, (), 0, 2**31 - 1)
        _, params = nnx.split(VAE(*self.hw, self.latent, self.channels, rngs=nnx.Rngs(int(seed))))
        return params

    def decode(self, params, z):
        return nnx.merge(self.graphdef, params).decode(z)

    def _batch(self, key, prev_params, real, from_real, perm_idx):
        if from_real:
            return real[perm_idx]
        k_z, k_mix, k_pick = jax.random.split(key, 3)
        x = self.decode(prev_params, jax.random.normal(k_z, (self.batch, self.latent)))
        if self.gamma > 0:  # a fraction gamma of each batch is real data (the paper's 10% setting)
            use_real = jax.random.uniform(k_mix, (self.batch,)) < self.gamma
            pick = jax.random.randint(k_pick, (self.batch,), 0, real.shape[0])
            x = jnp.where(use_real[:, None, None], real[pick], x)
        return x

    def _train_impl(self, params, prev_params, key, real, *, epochs, steps, from_real):
        """``epochs`` x ``steps`` Adam steps; returns new params and the mean loss of every epoch."""
        opt_state = self.tx.init(params)
        n_real = real.shape[0]

        def loss(p, x, k):
            return negative_elbo(nnx.merge(self.graphdef, p), x, k)

        grad = jax.value_and_grad(loss, has_aux=True)

        def epoch(carry, k_epoch):
            params, opt_state = carry
            perm = jax.random.permutation(jax.random.fold_in(k_epoch, 0), n_real)
            perm = jnp.tile(perm, -(-steps * self.batch // n_real))[: steps * self.batch].reshape(steps, self.batch)

            def step(carry, xs):
                params, opt_state = carry
                k_step, idx = xs
                k_data, k_noise = jax.random.split(k_step)
                x = self._batch(k_data, prev_params, real, from_real, idx)
                (value, _), g = grad(params, x, k_noise)
                updates, opt_state = self.tx.update(g, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), value

            keys = jax.random.split(jax.random.fold_in(k_epoch, 1), steps)
            (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (keys, perm))
            return (params, opt_state), jnp.mean(losses)

        (params, _), curve = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))
        return params, curve

    def train(self, params, prev_params, key, *, epochs, samples, from_real):
        steps = max(1, math.ceil(samples / self.batch))
        return self._train(params, prev_params, key, self.real, epochs=epochs, steps=steps, from_real=from_real)

    def _eval_impl(self, params, params0, key, real):
        """Metrics of a generation's model: samples, their latent spread under the generation-0
        encoder, their pixel diversity, and the real data's reconstruction loss."""
        model, model0 = nnx.merge(self.graphdef, params), nnx.merge(self.graphdef, params0)
        images = model.decode(jax.random.normal(key, (EVAL_SAMPLES, self.latent)))
        mu0, _ = model0.encode(images)
        mu, _ = model.encode(real)
        recon = jnp.mean(_bce_sum(model.decode_logits(mu), real))
        return {
            "latent_std": jnp.std(mu0),
            "latent_mean_abs": jnp.mean(jnp.abs(mu0)),
            "pixel_std": jnp.mean(jnp.std(images, axis=0)),
            "recon_bce": recon,
        }, images[:GRID_IMAGES]

    def evaluate(self, params, params0, key):
        return self._eval(params, params0, key, self.recon_real)


# ---------------------------------------------------------------------------------------------
# The recursion
# ---------------------------------------------------------------------------------------------


def simulate(
    dataset: "str | Path | np.ndarray" = "digits",
    latent_dims: int = 20,
    epochs: int = 30,
    generations: int = 5,
    chains: int = 1,
    seed: int = 0,
    *,
    batch_size: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    channels: Sequence[int] | None = None,
    samples: int | None = None,
    schedule: "str | Sequence[int]" = "constant",
    workflow: str = "replace",
    alpha: float | None = None,
    beta: float = 0.0,
    gamma: float = 0.0,
    limit: int | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Train a VAE on real images, then each generation on the previous generation's samples.

    ``dataset``: ``'digits'`` (scikit-learn's 8x8 digits), a directory of MNIST IDX files, or an
    array of images (N, H, W) in [0, 1]. ``samples`` is the number of training images per epoch in
    generated generations (default: the dataset's size; a schedule may grow it); ``gamma`` mixes
    that fraction of real images into every generated batch. Chains are independent seeds.

    Metrics, shape (generations + 1, chains), row t = the model after t generations of recursion:
    ``latent_std`` (std of the generation-0 encoder's latent means of generated images, the
    notebook's measure), ``latent_mean_abs``, ``pixel_std`` (mean per-pixel std across generated
    images), ``recon_bce`` (real images' reconstruction loss), ``train_loss`` (last epoch's mean
    negative ELBO). ``trajectory``: ``loss_curve`` (generation, chain, epoch) and ``samples``
    (generation, chain, 64, H, W) for image grids.
    """
    latent_dims = as_int("latent_dims", latent_dims, minimum=1)
    epochs = as_int("epochs", epochs, minimum=1)
    chains = as_int("chains", chains, minimum=1)
    seed = as_int("seed", seed, minimum=0)
    lr = as_float("lr", lr)
    require(lr > 0, f"lr must be > 0, got {lr}")
    weight_decay = as_float("weight_decay", weight_decay, minimum=0.0)
    if isinstance(dataset, np.ndarray):
        images, name = np.asarray(dataset, np.float32), f"array{dataset.shape}"
        require(images.ndim == 3 and images.shape[0] > 0, f"images must have shape (N, H, W), got {images.shape}")
        require(bool(np.all(np.isfinite(images))) and images.min() >= 0 and images.max() <= 1,
                "image values must lie in [0, 1]")
        if limit is not None:
            images = images[: as_int("limit", limit, minimum=1)]
    else:
        images, name = load_images(dataset, limit)
    n, height, width = images.shape
    require(height % 4 == 0 and width % 4 == 0 and height >= 4 and width >= 4,
            f"image height and width must be multiples of 4 (two stride-2 convolutions), got {height}x{width}")
    batch_size = as_int("batch_size", default_batch_size(height) if batch_size is None else batch_size, minimum=1)
    channels = tuple(default_channels(height) if channels is None else channels)
    require(len(channels) == 2, f"channels must be two numbers (c1, c2), got {channels}")
    channels = tuple(as_int("channels", c, minimum=1) for c in channels)
    proc = Process.resolve(samples=n if samples is None else samples, generations=generations,
                           schedule=schedule, workflow=workflow, alpha=alpha, beta=beta, gamma=gamma)
    require(proc.workflow == "replace",
            f"the VAE experiment supports the replace workflow only, got workflow {proc.workflow!r}")
    require(proc.mixing.beta == 0.0, f"the VAE experiment supports beta = 0 only, got beta={beta}")
    sizes = proc.sizes()

    trainer = _Trainer(height, width, latent_dims, channels, lr, weight_decay, batch_size,
                       proc.mixing.gamma, images)
    keys_C = engine.chain_keys(seed, chains)
    eval_key = jax.random.fold_in(engine.root_key(seed), 2**31 - 1)  # the same prior draws every generation
    G = proc.generations
    metrics = {k: np.zeros((G + 1, chains), np.float32)
               for k in ("latent_std", "latent_mean_abs", "pixel_std", "recon_bce", "train_loss")}
    curves = np.zeros((G + 1, chains, epochs), np.float32)
    grids = np.zeros((G + 1, chains, GRID_IMAGES, height, width), np.float32)
    bar = engine._progress_bar((G + 1) * chains, "vae generations", progress)
    try:
        for c in range(chains):
            params = params0 = None
            for t in range(G + 1):
                k_init, k_train = jax.random.split(jax.random.fold_in(keys_C[c], t))
                fresh = trainer.init(k_init)
                if t == 0:
                    params, curve = trainer.train(fresh, fresh, k_train, epochs=epochs, samples=n, from_real=True)
                    params0 = params
                else:
                    params, curve = trainer.train(fresh, params, k_train, epochs=epochs,
                                                  samples=int(sizes[t - 1]), from_real=False)
                values, imgs = trainer.evaluate(params, params0, eval_key)
                for k, v in values.items():
                    metrics[k][t, c] = float(v)
                metrics["train_loss"][t, c] = float(curve[-1])
                curves[t, c] = np.asarray(curve)
                grids[t, c] = np.asarray(imgs)
                bar.update(1)
    finally:
        bar.close()
    config = {
        "dataset": name, "images": n, "height": height, "width": width, "latent_dims": latent_dims,
        "epochs": epochs, "chains": chains, "seed": seed, "batch_size": batch_size, "lr": lr,
        "weight_decay": weight_decay, "channels": list(channels), "eval_samples": EVAL_SAMPLES,
        "real_pixel_std": float(np.mean(np.std(images, axis=0))), "process": proc.to_config(),
        "parameters": int(sum(np.size(x) for x in jax.tree.leaves(trainer.init(keys_C[0])))),
    }
    return SimulationResult("vae", config, metrics, trajectory={"loss_curve": curves, "samples": grids})


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def _tile(images_NHW: np.ndarray, cols: int) -> np.ndarray:
    n, h, w = images_NHW.shape
    rows = math.ceil(n / cols)
    out = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1), np.float32)
    for i, img in enumerate(images_NHW):
        r, c = divmod(i, cols)
        out[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = img
    return out


def plot(result: SimulationResult, outdir: Path) -> list[Path]:
    """``samples_gen{t}.png`` (an 8x8 grid per generation, chain 0), ``vae_grid.png`` (rows =
    generations) and ``vae_metrics.png``."""
    from .core import plots

    plt = plots.plt

    outdir = Path(outdir)
    written = []
    grids = result.trajectory["samples"][:, 0]
    for t, imgs in enumerate(grids):
        path = outdir / f"samples_gen{t:03d}.png"
        buf = io.BytesIO()
        tile = _tile(imgs, 8)
        scale = max(1, 320 // tile.shape[1])  # nearest-neighbour upscaling, so 8x8 digits stay visible
        plt.imsave(buf, tile.repeat(scale, 0).repeat(scale, 1), cmap="gray", vmin=0.0, vmax=1.0, format="png")
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)

    gens = list(range(result.generations + 1))
    if len(gens) > 11:
        gens = sorted(set(np.linspace(0, result.generations, 11).round().astype(int).tolist()))
    per_row = 16
    fig, axes = plt.subplots(len(gens), 1, figsize=(per_row * 0.5, len(gens) * 0.62 + 0.4), squeeze=False)
    for ax, t in zip(axes[:, 0], gens):
        ax.imshow(_tile(grids[t, :per_row], per_row), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"gen {t}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("VAE samples, retrained on its own output", fontsize=10)
    written.append(outdir / "vae_grid.png")
    plots.save(fig, written[-1])

    summary = result.summary()
    g = np.arange(result.generations + 1)
    panels = [("latent_std", "latent-mean std (gen-0 encoder)"), ("pixel_std", "pixel std of samples"),
              ("recon_bce", "real-data reconstruction BCE"), ("train_loss", "final training loss")]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax, (key, label) in zip(axes, panels):
        s = summary[key]
        ax.plot(g, s["mean"], "o-", ms=3)
        if result.chains > 1:
            ax.fill_between(g, s["q05"], s["q95"], alpha=0.25)
        if key == "pixel_std":
            ax.axhline(result.config["real_pixel_std"], color="k", ls="--", lw=1, label="real data")
            ax.legend(fontsize=8)
        ax.set_xlabel("generation")
        ax.set_title(label, fontsize=10)
    written.append(outdir / "vae_metrics.png")
    plots.save(fig, written[-1])
    return written


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def add_cli(subparsers) -> None:
    from .cli import add_process_arguments

    p = subparsers.add_parser("vae", help="VAE retrained on its own decoder's samples (paper SI)",
                              description=simulate.__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="'digits' (bundled 8x8) or a directory with MNIST IDX files")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--latent-dims", type=int, default=20)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=None, help="default 256 (MNIST size) or 128 (small images)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    add_process_arguments(p, samples=None, generations=5, chains=1)
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from .cli import default_out, claimed_out, process_kwargs

    with claimed_out(default_out("vae", args.out), args.overwrite, "vae") as out:
        result = simulate(args.dataset, latent_dims=args.latent_dims, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, limit=args.limit,
                          **process_kwargs(args))
        path = result.save(out, plot=plot)
    s = result.summary()
    print(f"vae: {result.config['dataset']} ({result.config['images']} images), {result.chains} chain(s) x "
          f"{result.generations} generations -> {path}")
    for t in range(result.generations + 1):
        print(f"  generation {t:3d}: latent std {s['latent_std']['mean'][t]:.4f}, pixel std "
              f"{s['pixel_std']['mean'][t]:.4f}, real recon BCE {s['recon_bce']['mean'][t]:.3f}")
    return 0


__all__ = ["VAE", "negative_elbo", "load_images", "read_idx_images", "load_digits_images", "simulate", "plot",
           "add_cli"]
