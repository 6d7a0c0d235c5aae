"""Shared helpers for the OPT tests: tiny random transformers models saved to disk (the oracle)."""

from __future__ import annotations

import numpy as np

torch = __import__("pytest").importorskip("torch")
transformers = __import__("pytest").importorskip("transformers")
torch.set_num_threads(1)  # the oracle runs tiny models: extra threads only contend with XLA

TINY = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
            max_position_embeddings=160)


def tiny_torch_model(seed: int = 0, eos_boost: float | None = None, **overrides):
    """A random ``OPTForCausalLM`` in eval mode (``eos_boost`` scales the EOS embedding row)."""
    torch.manual_seed(seed)
    config = transformers.OPTConfig(**{**TINY, **overrides})
    model = transformers.OPTForCausalLM(config).eval()
    if eos_boost is not None:
        with torch.no_grad():
            model.model.decoder.embed_tokens.weight[config.eos_token_id] *= eos_boost
    return model


def save(model, directory) -> str:
    model.save_pretrained(str(directory))
    return str(directory)


def torch_logits(model, ids, mask=None) -> np.ndarray:
    with torch.no_grad():
        kwargs = {} if mask is None else {"attention_mask": torch.tensor(np.asarray(mask))}
        return model(torch.tensor(np.asarray(ids)), **kwargs).logits.numpy()


def prompts(batch: int, length: int, vocab: int, seed: int = 0) -> np.ndarray:
    """Random prompts starting with BOS (id 2), avoiding the special ids 0..3 elsewhere."""
    ids = np.random.RandomState(seed).randint(4, vocab, size=(batch, length))
    ids[:, 0] = 2
    return ids


def left_pad(ids: np.ndarray, pads: list[int], pad_id: int = 1):
    """Left-pad row i with pads[i] pad tokens (overwriting its first tokens); returns ids and mask."""
    ids = ids.copy()
    mask = np.ones_like(ids)
    for row, n in enumerate(pads):
        ids[row, :n] = pad_id
        mask[row, :n] = 0
        if n < ids.shape[1]:
            ids[row, n] = 2
    return ids, mask
