"""A VAE retrained on its own decoder's output (the paper's SI experiment, THEORY.md §4.2).

Generation 0 trains on real images; generation t trains for the same number of epochs on images
decoded from prior samples of generation t - 1 (the decoder's means used directly as images, as
in the official notebook), optionally with a fraction gamma_t of real images mixed in.

The package: ``model`` (the NNX VAE and its loss), ``data`` (digits, MNIST IDX files), ``train``
(the jitted trainer and metrics), ``simulate`` (the generation loop), ``plots`` and ``cli``.
"""

from .cli import add_cli
from .data import as_images, load_digits_images, load_images, read_idx_images
from .model import VAE, negative_elbo
from .plots import plot
from .simulate import METRICS, simulate
from .train import Setup, Trainer

__all__ = ["VAE", "negative_elbo", "Trainer", "Setup", "load_images", "read_idx_images", "load_digits_images",
           "as_images", "simulate", "plot", "add_cli", "METRICS"]
