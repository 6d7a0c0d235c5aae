"""Generation under ``jit`` with a static-shape KV cache: greedy, sampling and beam search.

Semantics are those of transformers v5 ``model.generate`` (verified token for token in the tests):

* the prompt is processed in one prefill call; every later step feeds one token per row;
* the repetition penalty sees every token already in the sequence, prompt included (left-pad
  slots excluded): a seen token's score ``s`` becomes ``s * p`` if ``s < 0`` else ``s / p``; greedy
  and sampling apply it to the logits, beam search to the log-softmax scores;
* ``min_new_tokens`` sets the EOS score to ``-inf`` while fewer tokens have been generated;
* sampling: temperature, then top-k, then top-p (HF's order and tie rules), then a categorical draw;
* beam search keeps ``2 * num_beams`` candidates per step, scores finished hypotheses with the
  length penalty on the *generated* length, and follows HF's ``early_stopping`` (True, False or
  ``"never"``) heuristics and its global stopping rule (the state freezes once HF's loop would stop).

Outputs always have the static shape (B, T + max_new_tokens); positions after a sequence ended are
``pad_token_id`` (transformers crops them instead).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..core.errors import InputError, as_float, as_int
from .model import OPT, KVCache, init_cache
from .sharding import data_mesh, replicate, shard_batch

NEG_BIG = -1.0e9  # HF's "impossible" beam score


class Settings(NamedTuple):
    """Everything static about one generation call (hashable: a jit static argument)."""

    max_new_tokens: int
    min_new_tokens: int
    repetition_penalty: float
    eos_token_id: int | None
    pad_token_id: int
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: Any = False
    use_cache: bool = True


class BeamSearchOutput(NamedTuple):
    sequences_BxL: jax.Array  # best hypothesis per prompt, prompt included, padded with pad_token_id
    scores_B: jax.Array  # its length-penalised log-probability (HF's sequences_scores)


# --------------------------------------------------------------------------- input checks


def _check_prompt(model: OPT, prompt_ids, attention_mask, max_new_tokens: int):
    if not isinstance(model, OPT):
        raise InputError(f"expected an OPT model, got {type(model).__name__}")
    ids = np.asarray(prompt_ids) if not isinstance(prompt_ids, jax.Array) else prompt_ids
    if ids.ndim != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
        raise InputError(f"prompt_ids must have shape (batch, length) with both >= 1, got {tuple(ids.shape)}")
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise InputError(f"prompt_ids must be integer token ids, got dtype {ids.dtype}")
    vocab = model.config.vocab_size
    lo, hi = int(jnp.min(ids)), int(jnp.max(ids))
    if lo < 0 or hi >= vocab:
        raise InputError(f"prompt_ids contain ids outside [0, {vocab}): min {lo}, max {hi}")
    total = ids.shape[1] + max_new_tokens
    if total > model.config.max_positions:
        raise InputError(
            f"prompt length {ids.shape[1]} + max_new_tokens {max_new_tokens} = {total} exceeds the "
            f"position table (max_position_embeddings={model.config.max_positions})"
        )
    if attention_mask is None:
        mask = jnp.ones(ids.shape, bool)
    else:
        mask = jnp.asarray(attention_mask)
        if mask.shape != ids.shape:
            raise InputError(f"attention_mask shape {tuple(mask.shape)} differs from prompt_ids {tuple(ids.shape)}")
        mask = mask.astype(bool)
        if not bool(jnp.all(mask[:, -1])):
            raise InputError("attention_mask must end with a real token in every row (pad prompts on the left)")
    return jnp.asarray(ids, jnp.int32), mask


def _settings(model: OPT, *, max_new_tokens, min_new_tokens, repetition_penalty, eos_token_id, pad_token_id,
              **extra) -> Settings:
    max_new_tokens = as_int("max_new_tokens", max_new_tokens, minimum=1)
    min_new_tokens = as_int("min_new_tokens", min_new_tokens, minimum=0)
    if min_new_tokens > max_new_tokens:
        raise InputError(f"min_new_tokens={min_new_tokens} exceeds max_new_tokens={max_new_tokens}")
    penalty = as_float("repetition_penalty", repetition_penalty)
    if penalty <= 0:
        raise InputError(f"repetition_penalty must be > 0, got {penalty}")
    cfg = model.config
    eos = cfg.eos_token_id if eos_token_id is None else (
        None if eos_token_id is False else as_int("eos_token_id", eos_token_id, minimum=0))
    pad = cfg.pad_token_id if pad_token_id is None else as_int("pad_token_id", pad_token_id, minimum=0)
    for name, value in (("eos_token_id", eos), ("pad_token_id", pad)):
        if value is not None and value >= cfg.vocab_size:
            raise InputError(f"{name}={value} is outside the vocabulary of {cfg.vocab_size}")
    return Settings(max_new_tokens, min_new_tokens, penalty, eos, pad, **extra)


# --------------------------------------------------------------------------- logits processors


def seen_tokens(sequences_NxL, valid_NxL, vocab_size: int):
    """(N, V) bool: which token ids occur at the valid positions of each row."""
    n = sequences_NxL.shape[0]
    ids_NxL = jnp.where(valid_NxL, sequences_NxL, vocab_size)  # invalid slots land in a dropped column
    seen = jnp.zeros((n, vocab_size + 1), bool).at[jnp.arange(n)[:, None], ids_NxL].set(True)
    return seen[:, :vocab_size]


def apply_repetition_penalty(scores_NxV, seen_NxV, penalty: float):
    """HF's RepetitionPenaltyLogitsProcessor: once per distinct seen token, whatever its count."""
    if penalty == 1.0:
        return scores_NxV
    penalised = jnp.where(scores_NxV < 0, scores_NxV * penalty, scores_NxV / penalty)
    return jnp.where(seen_NxV, penalised, scores_NxV)


def _process(scores_NxV, sequences_NxL, valid_NxL, step, s: Settings):
    """The logits processors (not warpers) HF applies, in HF's order."""
    scores_NxV = apply_repetition_penalty(scores_NxV, seen_tokens(sequences_NxL, valid_NxL, scores_NxV.shape[-1])
                                          if s.repetition_penalty != 1.0 else None, s.repetition_penalty)
    if s.eos_token_id is not None and s.min_new_tokens > 0:
        eos_score = jnp.where(step < s.min_new_tokens, -jnp.inf, scores_NxV[:, s.eos_token_id])
        scores_NxV = scores_NxV.at[:, s.eos_token_id].set(eos_score)
    return scores_NxV


def top_k_filter(logits_NxV, k: int):
    """Keep the scores >= the k-th largest (ties kept), others -inf (HF TopKLogitsWarper)."""
    k = min(k, logits_NxV.shape[-1])
    kth_N1 = jax.lax.top_k(logits_NxV, k)[0][:, -1:]
    return jnp.where(logits_NxV < kth_N1, -jnp.inf, logits_NxV)


def top_p_filter(logits_NxV, p: float, min_keep: int = 1):
    """Nucleus filter as HF does it: drop the low tail whose cumulative probability is <= 1 - p."""
    order_NxV = jnp.argsort(logits_NxV, axis=-1)  # ascending
    sorted_NxV = jnp.take_along_axis(logits_NxV, order_NxV, axis=-1)
    cum_NxV = jnp.cumsum(jax.nn.softmax(sorted_NxV, axis=-1), axis=-1)
    drop_sorted = cum_NxV <= 1.0 - p
    drop_sorted = drop_sorted.at[:, -min_keep:].set(False)
    drop_NxV = jnp.zeros_like(drop_sorted).at[jnp.arange(logits_NxV.shape[0])[:, None], order_NxV].set(drop_sorted)
    return jnp.where(drop_NxV, -jnp.inf, logits_NxV)


def _warp(logits_NxV, s: Settings):
    if s.temperature != 1.0:
        logits_NxV = logits_NxV / s.temperature
    if s.top_k:
        logits_NxV = top_k_filter(logits_NxV, s.top_k)
    if s.top_p < 1.0:
        logits_NxV = top_p_filter(logits_NxV, s.top_p)
    return logits_NxV


# --------------------------------------------------------------------------- model plumbing


def _prefill(model: OPT, prompt_BxT, mask_BxT, total_len: int):
    cache = init_cache(model.config, prompt_BxT.shape[0], total_len)
    return model.decode(prompt_BxT, mask_BxT, cache=cache, last_only=True)


def _next_logits_uncached(model: OPT, seq_NxL, valid_NxL, cur_len):
    """Logits for position ``cur_len`` by running the whole (masked) buffer: the cache-free reference."""
    logits_NxLxV = model(seq_NxL, valid_NxL)
    return jax.lax.dynamic_index_in_dim(logits_NxLxV, cur_len - 1, axis=1, keepdims=False)


# --------------------------------------------------------------------------- greedy / sampling


@functools.partial(jax.jit, static_argnames=("graphdef", "s"))
def _generate_jit(graphdef, params, prompt_BxT, mask_BxT, key, s: Settings):
    model = nnx.merge(graphdef, params)
    b, t = prompt_BxT.shape
    total = t + s.max_new_tokens
    seq_BxL = jnp.full((b, total), s.pad_token_id, jnp.int32).at[:, :t].set(prompt_BxT)
    prompt_valid_BxL = jnp.zeros((b, total), bool).at[:, :t].set(mask_BxT)
    if s.use_cache:
        logits_BxV, cache = _prefill(model, prompt_BxT, mask_BxT, total)
    else:
        logits_BxV, cache = _next_logits_uncached(model, seq_BxL, prompt_valid_BxL, t), None

    def step(carry, i):
        seq_BxL, unfinished_B, logits_BxV, cache = carry
        cur = t + i
        filled_BxL = prompt_valid_BxL | ((jnp.arange(total) >= t) & (jnp.arange(total) < cur))[None]
        scores_BxV = _process(logits_BxV.astype(jnp.float32), seq_BxL, filled_BxL, i, s)
        if s.do_sample:
            token_B = jax.random.categorical(jax.random.fold_in(key, i), _warp(scores_BxV, s), axis=-1)
        else:
            token_B = jnp.argmax(scores_BxV, axis=-1)
        token_B = jnp.where(unfinished_B, token_B, s.pad_token_id).astype(jnp.int32)
        seq_BxL = seq_BxL.at[:, cur].set(token_B)
        if s.eos_token_id is not None:
            unfinished_B = unfinished_B & (token_B != s.eos_token_id)
        if s.use_cache:
            logits_BxV, cache = model.decode(token_B[:, None], None, cache=cache, last_only=True)
        else:
            written_BxL = prompt_valid_BxL | ((jnp.arange(total) >= t) & (jnp.arange(total) <= cur))[None]
            logits_BxV = _next_logits_uncached(model, seq_BxL, written_BxL, cur + 1)
        return (seq_BxL, unfinished_B, logits_BxV, cache), None

    carry = (seq_BxL, jnp.ones((b,), bool), logits_BxV, cache)
    carry, _ = jax.lax.scan(step, carry, jnp.arange(s.max_new_tokens))
    return carry[0]


def generate(model: OPT, prompt_ids_BxT, attention_mask_BxT=None, *, max_new_tokens: int,
             min_new_tokens: int = 0, do_sample: bool = False, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, repetition_penalty: float = 1.0, key: jax.Array | None = None,
             num_beams: int = 1, eos_token_id: int | None = None, pad_token_id: int | None = None,
             use_cache: bool = True, **beam_kwargs) -> jax.Array:
    """Greedy decoding or sampling (``do_sample=True`` with a ``key``); ``num_beams > 1`` runs :func:`beam_search`.

    Returns token ids (B, T + max_new_tokens): the prompt, then the new tokens, pads after EOS.
    """
    beams = as_int("num_beams", num_beams, minimum=1)
    if beams > 1:
        if do_sample:
            raise InputError("beam sampling (num_beams > 1 with do_sample=True) is not implemented")
        return beam_search(model, prompt_ids_BxT, attention_mask_BxT, num_beams=beams, max_new_tokens=max_new_tokens,
                           min_new_tokens=min_new_tokens, repetition_penalty=repetition_penalty,
                           eos_token_id=eos_token_id, pad_token_id=pad_token_id, **beam_kwargs).sequences_BxL
    if beam_kwargs:
        raise InputError(f"unexpected options for num_beams=1: {', '.join(sorted(beam_kwargs))}")
    temperature = as_float("temperature", temperature)
    if temperature <= 0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    top_k = as_int("top_k", top_k, minimum=0)
    top_p = as_float("top_p", top_p)
    if not 0.0 < top_p <= 1.0:
        raise InputError(f"top_p must be in (0, 1], got {top_p}")
    if do_sample and key is None:
        raise InputError("do_sample=True needs a PRNG key (key=jax.random.key(seed))")
    s = _settings(model, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                  repetition_penalty=repetition_penalty, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                  do_sample=bool(do_sample), temperature=temperature, top_k=top_k, top_p=top_p,
                  use_cache=bool(use_cache))
    prompt, mask = _check_prompt(model, prompt_ids_BxT, attention_mask_BxT, s.max_new_tokens)
    graphdef, params = nnx.split(model)
    if key is None:
        key = jax.random.key(0)
    mesh = data_mesh()  # several devices: prompts split over them, parameters replicated
    prompt, mask = shard_batch((prompt, mask), mesh)
    return _generate_jit(graphdef, replicate(params, mesh), prompt, mask, key, s)


# --------------------------------------------------------------------------- beam search


class _Beams(NamedTuple):
    running_BxMxL: jax.Array  # live hypotheses (M = num_beams)
    running_scores_BxM: jax.Array  # their summed log-probs
    finished_BxMxL: jax.Array  # best finished hypotheses so far
    finished_scores_BxM: jax.Array  # length-penalised
    is_finished_BxM: jax.Array
    improvable_Bx1: jax.Array  # HF's is_early_stop_heuristic_unsatisfied
    done: jax.Array  # HF's loop has stopped: the state no longer changes


def _beam_step(beams: _Beams, logits_NxV, i, t: int, s: Settings, prompt_valid_BxL):
    """One HF v5 beam-search iteration on the logits of the live beams; also returns parent rows."""
    b, m, total = beams.running_BxMxL.shape
    v = logits_NxV.shape[-1]
    keep = 2 * m  # max(2, 1 + number of EOS ids) * num_beams, with at most one EOS id
    cur = t + i
    log_probs_NxV = jax.nn.log_softmax(logits_NxV.astype(jnp.float32), axis=-1)
    filled_BxL = prompt_valid_BxL | ((jnp.arange(total) >= t) & (jnp.arange(total) < cur))[None]
    filled_NxL = jnp.repeat(filled_BxL, m, axis=0)
    log_probs_NxV = _process(log_probs_NxV, beams.running_BxMxL.reshape(b * m, total), filled_NxL, i, s)
    acc_BxMV = (log_probs_NxV.reshape(b, m, v) + beams.running_scores_BxM[:, :, None]).reshape(b, m * v)

    top_scores_BxK, top_idx_BxK = jax.lax.top_k(acc_BxMV, keep)
    parent_BxK = top_idx_BxK // v
    token_BxK = (top_idx_BxK % v).astype(jnp.int32)
    cand_BxKxL = jnp.take_along_axis(beams.running_BxMxL, parent_BxK[:, :, None], axis=1)
    cand_BxKxL = cand_BxKxL.at[:, :, cur].set(token_BxK)
    hits_BxK = jnp.full((b, keep), cur + 1 >= total)
    if s.eos_token_id is not None:
        hits_BxK = hits_BxK | (token_BxK == s.eos_token_id)

    # live beams for the next step: the best `m` candidates that did not stop
    live_scores_BxK = top_scores_BxK + hits_BxK.astype(jnp.float32) * NEG_BIG
    _, next_BxM = jax.lax.top_k(live_scores_BxK, m)
    running_BxMxL = jnp.take_along_axis(cand_BxKxL, next_BxM[:, :, None], axis=1)
    running_scores_BxM = jnp.take_along_axis(live_scores_BxK, next_BxM, axis=1)
    parent_rows_N = (jnp.take_along_axis(parent_BxK, next_BxM, axis=1) + jnp.arange(b)[:, None] * m).reshape(-1)

    # finished hypotheses: merge the stopped top-m candidates into the finished set
    just_finished_BxK = hits_BxK & (jnp.arange(keep) < m)[None]
    fin_scores_BxK = top_scores_BxK / (jnp.float32(cur + 1 - t) ** s.length_penalty)
    if s.early_stopping is True:
        full_Bx1 = jnp.all(beams.is_finished_BxM, axis=-1, keepdims=True)
        fin_scores_BxK = fin_scores_BxK + full_Bx1.astype(jnp.float32) * NEG_BIG
    fin_scores_BxK = fin_scores_BxK + (~beams.improvable_Bx1).astype(jnp.float32) * NEG_BIG
    fin_scores_BxK = fin_scores_BxK + (~just_finished_BxK).astype(jnp.float32) * NEG_BIG
    merged_scores = jnp.concatenate([beams.finished_scores_BxM, fin_scores_BxK], axis=1)
    merged_seqs = jnp.concatenate([beams.finished_BxMxL, cand_BxKxL], axis=1)
    merged_fin = jnp.concatenate([beams.is_finished_BxM, just_finished_BxK], axis=1)
    _, best_BxM = jax.lax.top_k(merged_scores, m)
    finished_BxMxL = jnp.take_along_axis(merged_seqs, best_BxM[:, :, None], axis=1)
    finished_scores_BxM = jnp.take_along_axis(merged_scores, best_BxM, axis=1)
    is_finished_BxM = jnp.take_along_axis(merged_fin, best_BxM, axis=1)

    # HF's stopping heuristics, evaluated with the incremented length
    new_len = cur + 1
    if s.early_stopping == "never" and s.length_penalty > 0.0:
        best_len = total - t
    else:
        best_len = new_len - t
    best_running_Bx1 = running_scores_BxM[:, :1] / (jnp.float32(best_len) ** s.length_penalty)
    worst_BxM = jnp.where(is_finished_BxM, jnp.min(finished_scores_BxM, axis=1, keepdims=True), NEG_BIG)
    improvable_Bx1 = beams.improvable_Bx1 & jnp.any(best_running_Bx1 > worst_BxM, axis=-1, keepdims=True)
    open_beam = ~(jnp.all(is_finished_BxM) & (s.early_stopping is True))
    done = ~(jnp.any(improvable_Bx1) & open_beam & ~jnp.all(hits_BxK))

    new = _Beams(running_BxMxL, running_scores_BxM, finished_BxMxL, finished_scores_BxM, is_finished_BxM,
                 improvable_Bx1, done)
    frozen = jax.tree.map(lambda old, upd: jnp.where(beams.done, old, upd), beams, new)
    return frozen, parent_rows_N


@functools.partial(jax.jit, static_argnames=("graphdef", "s"))
def _beam_search_jit(graphdef, params, prompt_BxT, mask_BxT, s: Settings):
    model = nnx.merge(graphdef, params)
    b, t = prompt_BxT.shape
    m = s.num_beams
    total = t + s.max_new_tokens
    seq_BxL = jnp.full((b, total), s.pad_token_id, jnp.int32).at[:, :t].set(prompt_BxT)
    prompt_valid_BxL = jnp.zeros((b, total), bool).at[:, :t].set(mask_BxT)
    # the prompt is the same for all beams: prefill once per prompt, then copy rows to the beams
    logits_BxV, cache = _prefill(model, prompt_BxT, mask_BxT, total)
    rows_N = jnp.repeat(jnp.arange(b), m)
    logits_NxV, cache = logits_BxV[rows_N], cache.take_rows(rows_N)
    beams = _Beams(
        running_BxMxL=jnp.repeat(seq_BxL[:, None], m, axis=1),
        running_scores_BxM=jnp.zeros((b, m), jnp.float32).at[:, 1:].set(NEG_BIG),
        finished_BxMxL=jnp.repeat(seq_BxL[:, None], m, axis=1),
        finished_scores_BxM=jnp.full((b, m), NEG_BIG, jnp.float32),
        is_finished_BxM=jnp.zeros((b, m), bool),
        improvable_Bx1=jnp.ones((b, 1), bool),
        done=jnp.zeros((), bool),
    )

    def step(carry, i):
        beams, logits_NxV, cache = carry
        beams, parent_rows_N = _beam_step(beams, logits_NxV, i, t, s, prompt_valid_BxL)
        cache = cache.take_rows(parent_rows_N)
        token_N = jax.lax.dynamic_index_in_dim(beams.running_BxMxL, t + i, axis=2, keepdims=False).reshape(-1)
        logits_NxV, cache = model.decode(token_N[:, None], None, cache=cache, last_only=True)
        return (beams, logits_NxV, cache), None

    (beams, logits_NxV, _), _ = jax.lax.scan(step, (beams, logits_NxV, cache), jnp.arange(s.max_new_tokens - 1))
    beams, _ = _beam_step(beams, logits_NxV, s.max_new_tokens - 1, t, s, prompt_valid_BxL)
    return BeamSearchOutput(beams.finished_BxMxL[:, 0], beams.finished_scores_BxM[:, 0])


def beam_search(model: OPT, prompt_ids_BxT, attention_mask_BxT=None, *, num_beams: int = 5, max_new_tokens: int = 64,
                min_new_tokens: int = 0, repetition_penalty: float = 1.0, length_penalty: float = 1.0,
                early_stopping: bool | str = False, eos_token_id: int | None = None,
                pad_token_id: int | None = None) -> BeamSearchOutput:
    """HF v5 beam search (``do_sample=False``, one returned sequence per prompt), jitted end to end.

    The paper's setting is ``num_beams=5, max_new_tokens=64, min_new_tokens=64,
    repetition_penalty=3.0`` on (B, 64) prompts. ``num_beams=1`` is greedy decoding, as in HF.
    """
    num_beams = as_int("num_beams", num_beams, minimum=1)
    length_penalty = as_float("length_penalty", length_penalty)
    if early_stopping not in (True, False, "never") or not isinstance(early_stopping, (bool, str)):
        raise InputError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if num_beams == 1:
        seqs = generate(model, prompt_ids_BxT, attention_mask_BxT, max_new_tokens=max_new_tokens,
                        min_new_tokens=min_new_tokens, repetition_penalty=repetition_penalty,
                        eos_token_id=eos_token_id, pad_token_id=pad_token_id)
        return BeamSearchOutput(seqs, jnp.full((seqs.shape[0],), jnp.nan, jnp.float32))
    s = _settings(model, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                  repetition_penalty=repetition_penalty, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                  num_beams=num_beams, length_penalty=length_penalty, early_stopping=early_stopping)
    if num_beams > model.config.vocab_size:
        raise InputError(f"num_beams={num_beams} exceeds the vocabulary size {model.config.vocab_size}")
    prompt, mask = _check_prompt(model, prompt_ids_BxT, attention_mask_BxT, s.max_new_tokens)
    graphdef, params = nnx.split(model)
    mesh = data_mesh()
    prompt, mask = shard_batch((prompt, mask), mesh)
    return _beam_search_jit(graphdef, replicate(params, mesh), prompt, mask, s)
