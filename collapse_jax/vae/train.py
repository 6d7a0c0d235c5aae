"""Training one generation of the VAE, and the metrics of a trained model (jitted, pure).

Generation 0 trains on real images (a fresh permutation each epoch). A later generation trains for
the same number of epochs on images decoded from prior samples of its predecessor: every batch is
``sigmoid(decoder(z))`` with fresh ``z ~ N(0, I)``, the decoder's means used directly as images
(the notebook's), of which a fraction gamma_t are replaced by real images drawn at random; gamma_t
is an argument, so a schedule of mixing weights shares one compiled trainer. Optimiser: Adam with
L2 weight decay (PyTorch's ``Adam(weight_decay=...)``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from .model import VAE, bce_sum, negative_elbo

EVAL_SAMPLES = 1000  # prior draws whose decoded images are scored each generation
GRID_IMAGES = 64  # generated images kept per generation and chain, for the figures
RECON_IMAGES = 2000  # real images whose reconstruction loss is reported (the first ones)


@dataclass(frozen=True)
class Setup:
    """Everything that shapes the compiled trainer (hashable: equal setups share compiled code)."""

    height: int
    width: int
    latent_dims: int
    channels: tuple[int, int]
    lr: float
    weight_decay: float
    batch_size: int

    def model(self, seed: int) -> VAE:
        return VAE(self.height, self.width, self.latent_dims, self.channels, rngs=nnx.Rngs(seed))


@functools.lru_cache(maxsize=8)
def _compiled(setup: Setup):
    """(graphdef, jitted train, jitted evaluate) of a setup, built once per process."""
    graphdef, _ = nnx.split(setup.model(0))
    tx = optax.chain(optax.add_decayed_weights(setup.weight_decay), optax.adam(setup.lr))
    batch, latent = setup.batch_size, setup.latent_dims

    def decode(params, z):
        return nnx.merge(graphdef, params).decode(z)

    def data(key, prev_params, real, gamma, from_real: bool, perm_idx):
        if from_real:
            return real[perm_idx]
        k_z, k_mix, k_pick = jax.random.split(key, 3)
        x = decode(prev_params, jax.random.normal(k_z, (batch, latent)))
        use_real = jax.random.uniform(k_mix, (batch,)) < gamma  # real images: the paper's 10% setting
        pick = jax.random.randint(k_pick, (batch,), 0, real.shape[0])
        return jnp.where(use_real[:, None, None], real[pick], x)

    def loss(p, x, k):
        return negative_elbo(nnx.merge(graphdef, p), x, k)

    grad = jax.value_and_grad(loss, has_aux=True)

    @functools.partial(jax.jit, static_argnames=("epochs", "steps", "from_real"))
    def train(params, prev_params, key, real, gamma, *, epochs, steps, from_real):
        """``epochs`` x ``steps`` Adam steps; the new params and the mean loss of every epoch."""
        n_real = real.shape[0]

        def epoch(carry, k_epoch):
            perm = jax.random.permutation(jax.random.fold_in(k_epoch, 0), n_real)
            perm = jnp.tile(perm, -(-steps * batch // n_real))[: steps * batch].reshape(steps, batch)

            def step(carry, xs):
                params, opt_state = carry
                k_step, idx = xs
                k_data, k_noise = jax.random.split(k_step)
                x = data(k_data, prev_params, real, gamma, from_real, idx)
                (value, _), g = grad(params, x, k_noise)
                updates, opt_state = tx.update(g, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), value

            keys = jax.random.split(jax.random.fold_in(k_epoch, 1), steps)
            carry, losses = jax.lax.scan(step, carry, (keys, perm))
            return carry, jnp.mean(losses)

        (params, _), curve = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(key, epochs))
        return params, curve

    @jax.jit
    def evaluate(params, params0, key, real):
        """Metrics of a generation's model: samples, their latent spread under the generation-0
        encoder, their pixel diversity, and the real data's reconstruction loss."""
        model, model0 = nnx.merge(graphdef, params), nnx.merge(graphdef, params0)
        images = model.decode(jax.random.normal(key, (EVAL_SAMPLES, latent)))
        mu0, _ = model0.encode(images)
        mu, _ = model.encode(real)
        recon = jnp.mean(bce_sum(model.decode_logits(mu), real))
        return {
            "latent_std": jnp.std(mu0),
            "latent_mean_abs": jnp.mean(jnp.abs(mu0)),
            "pixel_std": jnp.mean(jnp.std(images, axis=0)),
            "recon_bce": recon,
        }, images[:GRID_IMAGES]

    return graphdef, train, evaluate


class Trainer:
    """Training and evaluation of one setup on one set of real images."""

    def __init__(self, setup: Setup, real):
        self.setup = setup
        self.real = jnp.asarray(real)  # passed to the jitted functions as an argument, never baked in
        self.recon_real = self.real[:RECON_IMAGES]
        _, self._train, self._eval = _compiled(setup)

    def init(self, key: jax.Array):
        """Fresh parameters (NNX draws its initialisation from an integer seed taken from ``key``)."""
        return nnx.split(self.setup.model(int(jax.random.randint(key, (), 0, 2**31 - 1))))[1]

    def train(self, params, prev_params, key, *, epochs: int, samples: int, from_real: bool, gamma: float = 0.0):
        """Train ``params`` for ``epochs`` epochs of ceil(samples / batch) steps; returns the new
        parameters and each epoch's mean negative ELBO."""
        steps = max(1, math.ceil(samples / self.setup.batch_size))
        return self._train(params, prev_params, key, self.real, jnp.float32(gamma), epochs=epochs, steps=steps,
                           from_real=from_real)

    def evaluate(self, params, params0, key):
        return self._eval(params, params0, key, self.recon_real)

    def parameter_count(self) -> int:
        return int(sum(x.size for x in jax.tree.leaves(nnx.split(self.setup.model(0))[1])))


__all__ = ["Trainer", "Setup", "EVAL_SAMPLES", "GRID_IMAGES", "RECON_IMAGES"]
