"""Training and evaluation: HF's causal-LM loss, AdamW train step (jitted, state donated), perplexity.

The train step is functional: the model is split once into a static graph definition and a
parameter pytree; ``train_step(state, batch)`` is a pure ``jax.jit`` function of (state, batch)
that donates ``state``. A batch is a dict with ``input_ids`` (B, T), optionally
``attention_mask`` (B, T) and ``labels`` (B, T; default ``input_ids`` with pads set to -100).
Labels are shifted inside the loss, as transformers does.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ..core.errors import InputError, as_float
from .model import OPT
from .sharding import data_mesh, replicate, shard_batch

IGNORE_INDEX = -100


# --------------------------------------------------------------------------- losses


def token_nll(logits_BxTxV, labels_BxT, ignore_index: int = IGNORE_INDEX):
    """Per-position negative log-likelihood of the *next* token and its validity mask, both (B, T-1).

    Computed as ``logsumexp(logits) - logits[target]`` with the labels (not the big logits) shifted,
    so no (B, T, V) log-probability array or shifted copy of the logits is materialised.
    """
    b = labels_BxT.shape[0]
    targets_BxT = jnp.concatenate([labels_BxT[:, 1:], jnp.full((b, 1), ignore_index, labels_BxT.dtype)], axis=1)
    valid_BxT = targets_BxT != ignore_index
    logits_BxTxV = logits_BxTxV.astype(jnp.float32)
    safe_BxT = jnp.where(valid_BxT, targets_BxT, 0)
    target_logit_BxT = jnp.take_along_axis(logits_BxTxV, safe_BxT[..., None], axis=-1)[..., 0]
    nll_BxT = jax.nn.logsumexp(logits_BxTxV, axis=-1) - target_logit_BxT
    return jnp.where(valid_BxT, nll_BxT, 0.0)[:, :-1], valid_BxT[:, :-1]


def causal_lm_loss(logits_BxTxV, labels_BxT, ignore_index: int = IGNORE_INDEX):
    """transformers' ``ForCausalLMLoss``: shift labels left by one, mean over non-ignored targets."""
    nll, valid = token_nll(logits_BxTxV, labels_BxT, ignore_index)
    return jnp.sum(nll) / jnp.maximum(jnp.sum(valid), 1)


def _prepare_batch(batch: Mapping[str, Any] | Any, vocab_size: int) -> dict[str, jax.Array]:
    if not isinstance(batch, Mapping):
        batch = {"input_ids": batch}
    unknown = set(batch) - {"input_ids", "attention_mask", "labels"}
    if unknown:
        raise InputError(f"unknown batch keys {sorted(unknown)}; expected input_ids, attention_mask, labels")
    if "input_ids" not in batch:
        raise InputError("a batch needs 'input_ids' of shape (batch, length)")
    ids = jnp.asarray(batch["input_ids"])
    if ids.ndim != 2 or ids.shape[1] < 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
        raise InputError(f"input_ids must be integer ids of shape (batch, length >= 2), got {ids.dtype}{tuple(ids.shape)}")
    lo, hi = int(jnp.min(ids)), int(jnp.max(ids))
    if lo < 0 or hi >= vocab_size:
        raise InputError(f"input_ids contain ids outside [0, {vocab_size}): min {lo}, max {hi}")
    mask = jnp.ones(ids.shape, jnp.int32) if batch.get("attention_mask") is None else jnp.asarray(batch["attention_mask"])
    if mask.shape != ids.shape:
        raise InputError(f"attention_mask shape {tuple(mask.shape)} differs from input_ids {tuple(ids.shape)}")
    mask = mask.astype(jnp.int32)
    if batch.get("labels") is None:
        labels = jnp.where(mask > 0, ids, IGNORE_INDEX)
    else:
        labels = jnp.asarray(batch["labels"])
        if labels.shape != ids.shape:
            raise InputError(f"labels shape {tuple(labels.shape)} differs from input_ids {tuple(ids.shape)}")
    return {"input_ids": ids.astype(jnp.int32), "attention_mask": mask, "labels": labels.astype(jnp.int32)}


def _forward_loss(params, graphdef, batch, dropout_key):
    model = nnx.merge(graphdef, params)
    logits = model(batch["input_ids"], batch["attention_mask"], dropout_key=dropout_key)
    return causal_lm_loss(logits, batch["labels"])


def loss_and_grad(model: OPT, batch) -> tuple[jax.Array, nnx.State]:
    """Loss (no dropout) and its gradient with respect to the parameters, as an nnx State."""
    batch = _prepare_batch(batch, model.config.vocab_size)
    return jax.jit(jax.value_and_grad(_forward_loss), static_argnums=1)(
        nnx.state(model), _graphdef(model, train=False), batch, None)


# --------------------------------------------------------------------------- optimisation


def adamw(learning_rate: float | optax.Schedule, *, weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.999,
          eps: float = 1e-8, max_grad_norm: float | None = None) -> optax.GradientTransformation:
    """AdamW with torch's defaults (and HF Trainer's: weight decay 0); optional global-norm clipping.

    ``learning_rate`` is a float or any optax schedule (e.g. ``optax.warmup_cosine_decay_schedule``).
    """
    if not callable(learning_rate):
        learning_rate = as_float("learning_rate", learning_rate, minimum=0.0)
    as_float("weight_decay", weight_decay, minimum=0.0)
    tx = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    if max_grad_norm is not None:
        tx = optax.chain(optax.clip_by_global_norm(as_float("max_grad_norm", max_grad_norm, minimum=0.0)), tx)
    return tx


class TrainState(NamedTuple):
    params: nnx.State
    opt_state: optax.OptState
    step: jax.Array  # int32 scalar: number of updates applied
    key: jax.Array  # dropout randomness: step t uses fold_in(key, t)


def init_train_state(model: OPT, tx: optax.GradientTransformation, seed: int = 0) -> TrainState:
    # a copy: the train step donates (deletes) its input state, which must not be the model's arrays
    params = jax.tree.map(jnp.copy, nnx.state(model))
    state = TrainState(params, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key(seed))
    return replicate(state, data_mesh())


def _graphdef(model: OPT, train: bool):
    """The model's graph definition in train (dropout on) or eval mode, leaving the model as it was."""
    was_eval = model.layers[0].dropout.deterministic
    model.train() if train else model.eval()
    graphdef = nnx.graphdef(model)
    model.eval() if was_eval else model.train()
    return graphdef


def make_train_step(model: OPT, tx: optax.GradientTransformation, *, dropout: bool = True,
                    compiler_options: Mapping[str, Any] | None = None
                    ) -> Callable[[TrainState, Mapping[str, Any]], tuple[TrainState, dict[str, jax.Array]]]:
    """``train_step(state, batch) -> (state, metrics)``: one AdamW update, ``state`` donated.

    Dropout (rate ``config.dropout``, HF's two sites) is on when ``dropout`` is true. The batch is
    sharded over all devices when there are several. ``compiler_options`` are XLA options for this
    step's compilation (e.g. ``{"xla_cpu_use_onednn": True}``; benchmarks/opt.py compares some).
    Matrix multiplies in bfloat16: build the model with ``with_matmul_dtype(model, "bfloat16")``.
    """
    graphdef = _graphdef(model, train=dropout)
    vocab = model.config.vocab_size
    use_dropout = dropout and model.config.dropout > 0

    @functools.partial(jax.jit, donate_argnums=(0,), compiler_options=dict(compiler_options or {}) or None)
    def step(state: TrainState, batch):
        key = jax.random.fold_in(state.key, state.step) if use_dropout else None
        loss, grads = jax.value_and_grad(_forward_loss)(state.params, graphdef, batch, key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads),
                   "tokens": jnp.sum(batch["labels"][:, 1:] != IGNORE_INDEX)}
        return TrainState(params, opt_state, state.step + 1, state.key), metrics

    mesh = data_mesh()

    def train_step(state: TrainState, batch):
        return step(state, shard_batch(_prepare_batch(batch, vocab), mesh))

    train_step.jitted = step  # for ahead-of-time lowering / cost analysis
    return train_step


def update_model(model: OPT, state_or_params: TrainState | nnx.State) -> OPT:
    """Write trained parameters back into ``model`` (in place; returns it)."""
    params = state_or_params.params if isinstance(state_or_params, TrainState) else state_or_params
    nnx.update(model, jax.tree.map(jnp.copy, params))  # a copy, so the next donating step keeps the model intact
    return model


# --------------------------------------------------------------------------- evaluation


@functools.partial(jax.jit, static_argnums=0)
def _sequence_nll_jit(graphdef, params, batch):
    model = nnx.merge(graphdef, params)
    logits = model(batch["input_ids"], batch["attention_mask"])
    nll, valid = token_nll(logits, batch["labels"])
    return jnp.sum(nll, axis=1), jnp.sum(valid, axis=1)


def sequence_nll(model: OPT, batch) -> tuple[jax.Array, jax.Array]:
    """Summed next-token NLL of each sequence (B,) and the number of predicted tokens (B,); no dropout."""
    batch = _prepare_batch(batch, model.config.vocab_size)
    return _sequence_nll_jit(_graphdef(model, train=False), nnx.state(model), shard_batch(batch, data_mesh()))


def evaluate_loss(model: OPT, batches: Iterable) -> float:
    """Mean next-token NLL over all predicted tokens of all batches (token-weighted)."""
    total, count = 0.0, 0
    for batch in batches:
        nll_B, n_B = sequence_nll(model, batch)
        total += float(jnp.sum(nll_B))
        count += int(jnp.sum(n_B))
    if count == 0:
        raise InputError("evaluate_loss got no tokens to score (empty batches or all labels ignored)")
    return total / count


def perplexity(model: OPT, batches: Iterable) -> float:
    return math.exp(evaluate_loss(model, batches))
