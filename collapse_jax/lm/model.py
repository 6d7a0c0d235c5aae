"""The OPT decoder (pre-LayerNorm, as in OPT-125m/1.3b/2.7b) in ``flax.nnx``.

Module and attribute names follow the PyTorch state-dict keys of ``transformers.OPTForCausalLM``
(``embed_tokens``, ``layers/3/self_attn/q_proj`` ...), so the key table in :mod:`.weights` is a
rename plus a transpose. Shapes use nanodo-style suffixes: B batch, T new tokens, S cache slots,
D model width, H heads, K head width, F feed-forward width, V vocabulary.

Semantics copied from Hugging Face (verified against it in the tests):

* positions come from the attention mask, ``cumsum(mask) * mask - 1`` (pads get -1), and index a
  table of ``max_position_embeddings + 2`` rows with the fairseq offset of 2;
* queries are scaled by ``head_dim ** -0.5`` after the projection bias;
* masked scores are set to ``finfo.min`` (not ``-inf``) so fully padded rows stay finite;
* dropout (rate ``config.dropout``) after the attention output projection and after ``fc2``, and
  only in train mode (``model.train()``, with a ``dropout_key``); the model is built in eval mode;
* the output head is the token embedding (tied).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from ..core.errors import InputError

POSITION_OFFSET = 2  # OPT's learned position table has two extra leading rows (fairseq legacy)
MATMUL_DTYPES = ("float32", "bfloat16")
LAYER_NORM_EPS = 1e-5

# HF config fields the port implements (copied into ModelConfig) ...
_USED_FIELDS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "ffn_dim": "ffn_dim",
    "max_position_embeddings": "max_positions",
    "dropout": "dropout",
    "init_std": "init_std",
    "pad_token_id": "pad_token_id",
    "bos_token_id": "bos_token_id",
    "eos_token_id": "eos_token_id",
}
# ... fields whose value must be the one the port implements (anything else is refused) ...
_REQUIRED_VALUES: dict[str, Any] = {
    "model_type": "opt",
    "do_layer_norm_before": True,
    "_remove_final_layer_norm": False,
    "activation_function": "relu",
    "enable_bias": True,
    "layer_norm_elementwise_affine": True,
    "tie_word_embeddings": True,
    "attention_dropout": 0.0,
    "layerdrop": 0.0,
    "is_encoder_decoder": False,
    "chunk_size_feed_forward": 0,
}
# ... and metadata that does not change the computation (inference-time switches, bookkeeping).
_IGNORED_FIELDS = frozenset({
    "activation_dropout",  # present in hub configs, never read by transformers' OPT
    "use_cache", "architectures", "transformers_version", "_name_or_path", "torch_dtype", "dtype",
    "prefix", "output_hidden_states", "output_attentions", "return_dict", "id2label", "label2id",
    "problem_type", "tokenizer_class", "_attn_implementation_autoset", "torchscript",
    "output_scores", "return_dict_in_generate",
})


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The hyper-parameters of an OPT decoder with the 125m layout (hashable: usable as a jit static)."""

    vocab_size: int = 50272
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_dim: int = 3072
    max_positions: int = 2048
    dropout: float = 0.1
    init_std: float = 0.02
    pad_token_id: int = 1
    bos_token_id: int = 2
    eos_token_id: int = 2
    # The operand type of every matrix multiply (projections, attention, output head); products are
    # accumulated and returned in float32, and parameters, LayerNorm and softmax stay float32.
    # "bfloat16" is a speed option for hardware with bf16 units (GPU tensor cores, TPU); it is not
    # part of the Hugging Face config and changes results within a tolerance (see the tests).
    matmul_dtype: str = "float32"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "ffn_dim", "max_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"model config {name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise InputError(
                f"model config hidden_size={self.hidden_size} must be divisible by "
                f"num_attention_heads={self.num_heads}"
            )
        if self.matmul_dtype not in MATMUL_DTYPES:
            raise InputError(f"model config matmul_dtype must be one of {', '.join(MATMUL_DTYPES)}, "
                             f"got {self.matmul_dtype!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InputError(f"model config dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise InputError(
                    f"model config {name} must be an integer id in [0, {self.vocab_size}), got {value!r}"
                )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf(cls, hf: Mapping[str, Any]) -> "ModelConfig":
        """From a transformers OPT ``config.json`` dict; refuses any variant the port does not implement."""
        if not isinstance(hf, Mapping):
            raise InputError(f"OPT config must be a JSON object, got {type(hf).__name__}")
        kwargs: dict[str, Any] = {}
        hidden = hf.get("hidden_size", cls.hidden_size)
        for key, value in hf.items():
            if key in _USED_FIELDS:
                if key == "eos_token_id" and isinstance(value, list):
                    if len(value) != 1:
                        raise InputError(f"OPT config eos_token_id={value!r}: only a single EOS id is supported")
                    value = value[0]
                kwargs[_USED_FIELDS[key]] = value
            elif key in _REQUIRED_VALUES:
                expected = _REQUIRED_VALUES[key]
                same = value is expected if isinstance(expected, bool) else (
                    not isinstance(value, bool) and value == expected)
                if not same:
                    raise InputError(
                        f"unsupported OPT variant: config field {key}={value!r}, this port implements "
                        f"{key}={expected!r} (the OPT-125m layout)"
                    )
            elif key == "word_embed_proj_dim":
                if value is not None and value != hidden:
                    raise InputError(
                        f"unsupported OPT variant: config field word_embed_proj_dim={value!r} differs from "
                        f"hidden_size={hidden!r} (OPT-350m's project_in/project_out are not implemented)"
                    )
            elif key not in _IGNORED_FIELDS:
                raise InputError(f"unknown OPT config field {key!r}={value!r}; refusing to guess its meaning")
        if "dropout" in kwargs:
            kwargs["dropout"] = float(kwargs["dropout"])
        if "init_std" in kwargs:
            kwargs["init_std"] = float(kwargs["init_std"])
        return cls(**kwargs)

    def to_hf(self) -> dict[str, Any]:
        """A ``config.json`` dict that ``transformers.OPTConfig`` reads back to the same model."""
        return {
            "model_type": "opt",
            "architectures": ["OPTForCausalLM"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "word_embed_proj_dim": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "ffn_dim": self.ffn_dim,
            "max_position_embeddings": self.max_positions,
            "do_layer_norm_before": True,
            "activation_function": "relu",
            "dropout": self.dropout,
            "attention_dropout": 0.0,
            "activation_dropout": 0.0,
            "layerdrop": 0.0,
            "init_std": self.init_std,
            "enable_bias": True,
            "layer_norm_elementwise_affine": True,
            "tie_word_embeddings": True,
            "pad_token_id": self.pad_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "dtype": "float32",
        }

    def flops_per_token(self, seq_len: int) -> dict[str, float]:
        """Model FLOPs per token (multiply-add = 2 FLOPs), forward and forward+backward (×3).

        Per layer: QKV+out projections 8·D², MLP 4·D·F, attention scores and values 4·T·D
        (counting the full T×T matrix, as PaLM's MFU convention does); head 2·D·V.
        """
        d, f, v, n_layers = self.hidden_size, self.ffn_dim, self.vocab_size, self.num_layers
        per_layer = 8 * d * d + 4 * d * f + 4 * seq_len * d
        forward = n_layers * per_layer + 2 * d * v
        return {"forward": float(forward), "train": float(3 * forward)}


def _normal(std: float):
    return jax.nn.initializers.normal(stddev=std)


def _linear(cfg: ModelConfig, n_in: int, n_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    if cfg.matmul_dtype == "float32":
        return nnx.Linear(n_in, n_out, kernel_init=_normal(cfg.init_std), rngs=rngs)
    # operands (input, kernel, bias) cast to matmul_dtype, the product accumulated in float32; the
    # bias is added in float32 after the promotion of the product
    return nnx.Linear(n_in, n_out, kernel_init=_normal(cfg.init_std), dtype=jnp.dtype(cfg.matmul_dtype),
                      preferred_element_type=jnp.float32, rngs=rngs)


def _matmul(spec: str, a, b, dtype: str):
    """``einsum(spec, a, b)``, the operands cast to ``dtype`` and the product accumulated in float32."""
    if dtype == "float32":
        return jnp.einsum(spec, a, b)
    d = jnp.dtype(dtype)
    return jnp.einsum(spec, a.astype(d), b.astype(d), preferred_element_type=jnp.float32)


def _layer_norm(cfg: ModelConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(cfg.hidden_size, epsilon=LAYER_NORM_EPS, use_fast_variance=False, rngs=rngs)


class KVCache(NamedTuple):
    """A static-shape key/value cache: S slots per row, written left to right.

    ``k``/``v`` hold one (B, S, H, K) array per layer; ``valid_BxS`` marks slots holding a real
    (non-pad) token; ``index`` is the next slot to write; ``next_pos_B`` the position id the next
    real token of each row gets.
    """

    k: tuple[jax.Array, ...]
    v: tuple[jax.Array, ...]
    valid_BxS: jax.Array
    index: jax.Array
    next_pos_B: jax.Array

    def take_rows(self, rows_N: jax.Array) -> "KVCache":
        """The cache of rows ``rows_N`` (used to follow beams to their parents, or to repeat prompts)."""
        take = lambda x: jnp.take(x, rows_N, axis=0)
        return KVCache(tuple(map(take, self.k)), tuple(map(take, self.v)), take(self.valid_BxS), self.index,
                       take(self.next_pos_B))


def init_cache(config: ModelConfig, batch: int, max_len: int, dtype=jnp.float32) -> KVCache:
    if max_len > config.max_positions:
        raise InputError(
            f"a cache of {max_len} tokens exceeds max_position_embeddings={config.max_positions}"
        )
    shape = (batch, max_len, config.num_heads, config.head_dim)
    zeros = tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers))
    return KVCache(zeros, tuple(jnp.zeros(shape, dtype) for _ in range(config.num_layers)),
                   jnp.zeros((batch, max_len), bool), jnp.zeros((), jnp.int32), jnp.zeros((batch,), jnp.int32))


class Attention(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.head_dim
        self.matmul_dtype = cfg.matmul_dtype
        self.q_proj = _linear(cfg, d, d, rngs)
        self.k_proj = _linear(cfg, d, d, rngs)
        self.v_proj = _linear(cfg, d, d, rngs)
        self.out_proj = _linear(cfg, d, d, rngs)

    def __call__(self, x_BxTxD, allowed_BxTxS, kv_cache=None, index=None, padded=True):
        b, t, d = x_BxTxD.shape
        split = lambda y: y.reshape(b, t, self.num_heads, self.head_dim)
        q_BxTxHxK = split(self.q_proj(x_BxTxD) * (self.head_dim ** -0.5))
        k_BxTxHxK = split(self.k_proj(x_BxTxD))
        v_BxTxHxK = split(self.v_proj(x_BxTxD))
        if kv_cache is not None:
            k_cache, v_cache = kv_cache
            k_BxSxHxK = jax.lax.dynamic_update_slice(k_cache, k_BxTxHxK.astype(k_cache.dtype), (0, index, 0, 0))
            v_BxSxHxK = jax.lax.dynamic_update_slice(v_cache, v_BxTxHxK.astype(v_cache.dtype), (0, index, 0, 0))
            new_cache = (k_BxSxHxK, v_BxSxHxK)
        else:
            k_BxSxHxK, v_BxSxHxK, new_cache = k_BxTxHxK, v_BxTxHxK, None
        scores_BxHxTxS = _matmul("bthk,bshk->bhts", q_BxTxHxK, k_BxSxHxK, self.matmul_dtype).astype(jnp.float32)
        scores_BxHxTxS = jnp.where(allowed_BxTxS[:, None], scores_BxHxTxS, jnp.finfo(jnp.float32).min)
        probs_BxHxTxS = jax.nn.softmax(scores_BxHxTxS, axis=-1)
        # a query that may see no key (a left-pad slot) attends to nothing, as torch's SDPA does
        if padded:
            probs_BxHxTxS = jnp.where(jnp.any(allowed_BxTxS, axis=-1)[:, None, :, None], probs_BxHxTxS, 0.0)
        probs_BxHxTxS = probs_BxHxTxS.astype(v_BxSxHxK.dtype)
        out_BxTxHxK = _matmul("bhts,bshk->bthk", probs_BxHxTxS, v_BxSxHxK, self.matmul_dtype)
        return self.out_proj(out_BxTxHxK.reshape(b, t, d)), new_cache


class DecoderLayer(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.self_attn_layer_norm = _layer_norm(cfg, rngs)
        self.self_attn = Attention(cfg, rngs)
        self.final_layer_norm = _layer_norm(cfg, rngs)
        self.fc1 = _linear(cfg, cfg.hidden_size, cfg.ffn_dim, rngs)
        self.fc2 = _linear(cfg, cfg.ffn_dim, cfg.hidden_size, rngs)
        self.dropout = nnx.Dropout(cfg.dropout, deterministic=True)

    def __call__(self, h_BxTxD, allowed_BxTxS, kv_cache=None, index=None, dropout_key=None, padded=True):
        keys = (None, None) if dropout_key is None else tuple(jax.random.split(dropout_key))
        attn_BxTxD, new_cache = self.self_attn(self.self_attn_layer_norm(h_BxTxD), allowed_BxTxS, kv_cache, index,
                                               padded)
        h_BxTxD = h_BxTxD + self.dropout(attn_BxTxD, rngs=keys[0])
        mlp_BxTxD = self.fc2(jax.nn.relu(self.fc1(self.final_layer_norm(h_BxTxD))))
        return h_BxTxD + self.dropout(mlp_BxTxD, rngs=keys[1]), new_cache


class OPT(nnx.Module):
    """``OPTForCausalLM`` in nnx. ``model(input_ids_BxT, attention_mask_BxT)`` returns logits (B, T, V)."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.embed_tokens = nnx.Embed(config.vocab_size, config.hidden_size,
                                      embedding_init=_normal(config.init_std), rngs=rngs)
        self.embed_positions = nnx.Embed(config.max_positions + POSITION_OFFSET, config.hidden_size,
                                         embedding_init=_normal(config.init_std), rngs=rngs)
        self.layers = nnx.List([DecoderLayer(config, rngs) for _ in range(config.num_layers)])
        self.final_layer_norm = _layer_norm(config, rngs)

    def __call__(self, input_ids_BxT, attention_mask_BxT=None, *, dropout_key=None):
        logits_BxTxV, _ = self.decode(input_ids_BxT, attention_mask_BxT, dropout_key=dropout_key)
        return logits_BxTxV

    def hidden_states(self, input_ids_BxT, attention_mask_BxT=None, *, cache: KVCache | None = None,
                      dropout_key=None):
        """Final-LayerNorm hidden states (B, T, D) and the updated cache (None without one)."""
        b, t = input_ids_BxT.shape
        if t > self.config.max_positions:
            raise InputError(f"{t} tokens exceed the position table (max_position_embeddings="
                             f"{self.config.max_positions})")
        mask_BxT = (jnp.ones((b, t), bool) if attention_mask_BxT is None
                    else jnp.asarray(attention_mask_BxT).astype(bool))
        if cache is None:
            offset_B = jnp.zeros((b,), jnp.int32)
            causal_TxT = jnp.tril(jnp.ones((t, t), bool))
            allowed_BxTxS = causal_TxT[None] if attention_mask_BxT is None else causal_TxT[None] & mask_BxT[:, None, :]
        else:
            offset_B = cache.next_pos_B
            s = cache.valid_BxS.shape[1]
            valid_BxS = jax.lax.dynamic_update_slice(cache.valid_BxS, mask_BxT, (0, cache.index))
            slot_S = jnp.arange(s)
            causal_TxS = slot_S[None, :] <= cache.index + jnp.arange(t)[:, None]
            allowed_BxTxS = causal_TxS[None] & valid_BxS[:, None, :]
        mask_i_BxT = mask_BxT.astype(jnp.int32)
        positions_BxT = (offset_B[:, None] + jnp.cumsum(mask_i_BxT, axis=1)) * mask_i_BxT - 1
        tokens_BxTxD = self.embed_tokens(input_ids_BxT)
        # torch's Embedding(padding_idx=pad) sends no gradient to the pad row through the lookup
        is_pad_BxTx1 = (input_ids_BxT == self.config.pad_token_id)[..., None]
        tokens_BxTxD = jnp.where(is_pad_BxTx1, jax.lax.stop_gradient(tokens_BxTxD), tokens_BxTxD)
        h_BxTxD = tokens_BxTxD + self.embed_positions(positions_BxT + POSITION_OFFSET)
        dropout_keys = (None,) * len(self.layers)
        if dropout_key is not None:
            dropout_keys = tuple(jax.random.split(dropout_key, len(self.layers)))
        elif not self.layers[0].dropout.deterministic and self.config.dropout > 0:
            raise InputError("the model is in train mode: pass dropout_key=, or call model.eval() first")
        new_k, new_v = [], []
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else (cache.k[i], cache.v[i])
            h_BxTxD, layer_cache = layer(h_BxTxD, allowed_BxTxS, layer_cache,
                                         None if cache is None else cache.index, dropout_keys[i],
                                         padded=cache is not None or attention_mask_BxT is not None)
            if cache is not None:
                new_k.append(layer_cache[0])
                new_v.append(layer_cache[1])
        h_BxTxD = self.final_layer_norm(h_BxTxD)
        if cache is None:
            return h_BxTxD, None
        new_cache = KVCache(tuple(new_k), tuple(new_v), valid_BxS, cache.index + t,
                            cache.next_pos_B + jnp.sum(mask_i_BxT, axis=1))
        return h_BxTxD, new_cache

    def decode(self, input_ids_BxT, attention_mask_BxT=None, *, cache: KVCache | None = None,
               last_only: bool = False, dropout_key=None):
        """Logits (B, T, V), or (B, V) for the last position when ``last_only``, and the updated cache."""
        h_BxTxD, cache = self.hidden_states(input_ids_BxT, attention_mask_BxT, cache=cache, dropout_key=dropout_key)
        if last_only:
            h_BxTxD = h_BxTxD[:, -1]
        if self.config.matmul_dtype == "float32":
            return self.embed_tokens.attend(h_BxTxD), cache
        return _matmul("...d,vd->...v", h_BxTxD, self.embed_tokens.embedding[...], self.config.matmul_dtype), cache


def with_matmul_dtype(model: OPT, dtype: str) -> OPT:
    """The same parameters (shared, not copied) in a model whose matrix multiplies use ``dtype``
    operands with float32 accumulation (see :attr:`ModelConfig.matmul_dtype`)."""
    config = dataclasses.replace(model.config, matmul_dtype=dtype)
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: OPT(config, rngs=nnx.Rngs(0))))
    return nnx.merge(graphdef, nnx.state(model))


def init_model(config: ModelConfig, seed: int = 0) -> OPT:
    """A randomly initialised OPT (HF's scheme: normal(0, init_std) weights, zero biases, pad row zero)."""
    if not isinstance(config, ModelConfig):
        raise InputError(f"init_model expects a ModelConfig, got {type(config).__name__}")
    model = OPT(config, rngs=nnx.Rngs(params=seed))
    table = model.embed_tokens.embedding
    table[...] = table[...].at[config.pad_token_id].set(0.0)
    return model


@functools.partial(jax.jit, static_argnums=0)
def _forward_jit(graphdef, params, input_ids_BxT, attention_mask_BxT):
    return nnx.merge(graphdef, params)(input_ids_BxT, attention_mask_BxT)


def forward(model: OPT, input_ids_BxT, attention_mask_BxT=None) -> jax.Array:
    """Jitted eval-mode logits (B, T, V); compiled once per graph and input shape."""
    ids = jnp.asarray(input_ids_BxT, jnp.int32)
    if ids.ndim != 2:
        raise InputError(f"input_ids must have shape (batch, length), got {tuple(ids.shape)}")
    lo, hi = int(jnp.min(ids)), int(jnp.max(ids))
    if lo < 0 or hi >= model.config.vocab_size:
        raise InputError(f"input_ids contain ids outside [0, {model.config.vocab_size}): min {lo}, max {hi}")
    mask = None if attention_mask_BxT is None else jnp.asarray(attention_mask_BxT, jnp.int32)
    graphdef, params = nnx.split(model)
    if not model.layers[0].dropout.deterministic:
        raise InputError("forward() evaluates the model: call model.eval() first")
    return _forward_jit(graphdef, params, ids, mask)


def param_count(model: OPT) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
