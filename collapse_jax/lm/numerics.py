"""The numerics of one generation, apart from any file: scoring, generating, mixing, the schedule.

Everything here is a function of its arguments (random draws come from a numpy Generator the
caller addresses with :func:`collapse_jax.core.streams.numpy_stream`), so the driver in
:mod:`.run` only adds checkpoints around it.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import jax.numpy as jnp
import numpy as np

from ..core.streams import numpy_stream
from .generate import beam_search
from .train import sequence_nll


def stream(seed: int, setting: str, generation: int, purpose: str, *more: int) -> np.random.Generator:
    """The numpy stream of one chain's (generation, purpose[, epoch]): init, dropout, shuffle or mix."""
    return numpy_stream(seed, int(setting), generation, purpose, *more)


def int_seed(seed: int, setting: str, generation: int, purpose: str) -> int:
    """A 31-bit integer seed drawn from that stream (JAX keys of the initial weights and dropout)."""
    return int(stream(seed, setting, generation, purpose).integers(0, 2 ** 31 - 1))


def mix_original(generated_NxT: np.ndarray, original_NxT: np.ndarray, fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace a random ``round(fraction * N)`` positions of ``generated`` by the original blocks there.

    Returns the mixed blocks and the sorted indices that hold original data.
    """
    n = generated_NxT.shape[0]
    k = int(round(fraction * n))
    idx = np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros((0,), np.int64)
    mixed = generated_NxT.copy()
    mixed[idx] = original_NxT[idx]
    return mixed, idx


def epoch_cosine(lr0: float, eta_min: float, epochs: int, steps_per_epoch: int):
    """torch's ``CosineAnnealingLR(T_max=epochs, eta_min)`` stepped once per epoch (Lightning's default),
    as an optax schedule of the update count."""

    def schedule(count):
        epoch = count // steps_per_epoch
        return eta_min + (lr0 - eta_min) * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch / epochs))

    return schedule


def padded_batches(blocks: np.ndarray, batch_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, count, batch) with every batch of ``batch_size`` rows (the last one padded by repeating
    row 0), so one compiled shape serves the whole dataset."""
    n = blocks.shape[0]
    for start in range(0, n, batch_size):
        batch = blocks[start:start + batch_size]
        count = batch.shape[0]
        if count < batch_size and n >= batch_size:
            batch = np.concatenate([batch, np.repeat(batch[:1], batch_size - count, axis=0)])
        yield start, count, batch


def score_blocks(model, blocks: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Summed next-token NLL of every block (N,) and its number of predicted tokens (N,)."""
    nll = np.zeros(blocks.shape[0], np.float64)
    count = np.zeros(blocks.shape[0], np.int64)
    for start, n, batch in padded_batches(blocks, batch_size):
        nll_B, count_B = sequence_nll(model, batch)
        nll[start:start + n] = np.asarray(nll_B, np.float64)[:n]
        count[start:start + n] = np.asarray(count_B)[:n]
    return nll, count


def mean_loss(nll: np.ndarray, count: np.ndarray) -> float:
    """Token-weighted mean NLL (its exp is the perplexity)."""
    return float(np.sum(nll) / np.sum(count))


def continue_blocks(model, prompts: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """The paper's generation: beam search of exactly ``new_tokens`` tokens after each prompt."""
    out = beam_search(model, prompts, num_beams=cfg["num_beams"], max_new_tokens=cfg["new_tokens"],
                      min_new_tokens=cfg["new_tokens"], repetition_penalty=cfg["repetition_penalty"])
    return np.asarray(out.sequences_BxL)[:, prompts.shape[1]:].astype(np.int32)


__all__ = ["stream", "int_seed", "mix_original", "epoch_cosine", "padded_batches", "score_blocks", "mean_loss",
           "continue_blocks"]
