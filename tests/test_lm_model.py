"""The Flax OPT forward pass against transformers' PyTorch OPTForCausalLM (the oracle)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lm_oracle import left_pad, prompts, save, tiny_torch_model, torch, torch_logits, transformers

from collapse_jax import InputError
from collapse_jax.lm import ModelConfig, forward, init_cache, init_model, load_model, model_from_state_dict, param_count

TOL = 1e-5


@pytest.mark.parametrize("overrides", [{}, dict(hidden_size=48, num_attention_heads=3, num_hidden_layers=3,
                                                ffn_dim=40, vocab_size=101)])
def test_logits_match_transformers_including_left_padding(tmp_path, overrides):
    torch_model = tiny_torch_model(seed=1, **overrides)
    model, config = load_model(save(torch_model, tmp_path))
    ids = prompts(4, 12, config.vocab_size, seed=3)
    ids, mask = left_pad(ids, [0, 3, 7, 11])
    ref = torch_logits(torch_model, ids, mask)
    out = np.asarray(forward(model, ids, mask))
    assert not np.isnan(out).any()
    real = mask.astype(bool)
    assert np.abs(out - ref)[real].max() <= TOL
    # unpadded batch, no mask given
    ids = prompts(2, 16, config.vocab_size, seed=4)
    assert np.abs(np.asarray(forward(model, ids)) - torch_logits(torch_model, ids)).max() <= TOL


@pytest.mark.slow
def test_logits_match_at_opt125m_shape():
    torch.manual_seed(0)
    torch_model = transformers.OPTForCausalLM(transformers.OPTConfig()).eval()  # 125m defaults, random weights
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    model = model_from_state_dict(ModelConfig.from_hf(torch_model.config.to_dict()), state)
    assert param_count(model) == sum(p.numel() for p in torch_model.parameters())
    ids, mask = left_pad(prompts(2, 64, 50265, seed=0), [0, 9])
    ref = torch_logits(torch_model, ids, mask)
    out = np.asarray(forward(model, ids, mask))
    assert np.abs(out - ref)[mask.astype(bool)].max() <= TOL  # observed 3.7e-6


def test_cached_decoding_equals_full_forward():
    config = ModelConfig(vocab_size=80, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=48, max_positions=40)
    model = init_model(config, seed=0)
    ids, mask = left_pad(prompts(3, 14, 80, seed=1), [0, 2, 5])
    full = np.asarray(forward(model, ids, mask))
    cache = init_cache(config, 3, 20)
    decode = nnx.jit(lambda m, i, k, c: m.decode(i, k, cache=c))
    logits, cache = decode(model, ids[:, :9], mask[:, :9], cache)
    pieces = [np.asarray(logits)]
    for t in range(9, 14):
        logits, cache = decode(model, ids[:, t:t + 1], mask[:, t:t + 1], cache)
        pieces.append(np.asarray(logits))
    stepped = np.concatenate(pieces, axis=1)
    assert int(cache.index) == 14
    assert np.abs(stepped - full)[mask.astype(bool)].max() <= TOL


def test_causality_future_positions_get_no_gradient():
    config = ModelConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=48, max_positions=32)
    model = init_model(config, seed=2)
    ids = jnp.asarray(prompts(2, 10, 64, seed=0))
    graphdef, params = nnx.split(model)
    t = 4

    def out_at_t(params):
        return jnp.sum(nnx.merge(graphdef, params)(ids)[:, t])

    grads = jax.jit(jax.grad(out_at_t))(params)
    pos_grad = np.asarray(grads["embed_positions"]["embedding"][...])
    row_norm = np.abs(pos_grad).sum(axis=1)
    # token at index j has position j, i.e. table row j + 2
    assert np.all(row_norm[2 + t + 1: 2 + 10] == 0.0)
    assert np.all(row_norm[2: 2 + t + 1] > 0.0)


def test_init_model_matches_transformers_layout():
    torch_model = tiny_torch_model()
    config = ModelConfig.from_hf(torch_model.config.to_dict())
    model = init_model(config, seed=0)
    assert param_count(model) == sum(p.numel() for p in torch_model.parameters())
    table = np.asarray(model.embed_tokens.embedding[...])
    assert np.all(table[config.pad_token_id] == 0) and abs(table.std() - config.init_std) < 0.005


def test_dropout_only_in_train_mode():
    config = ModelConfig(vocab_size=64, hidden_size=16, num_layers=1, num_heads=2, ffn_dim=16, max_positions=16)
    model = init_model(config, seed=0)
    ids = prompts(2, 8, 64)
    key = jax.random.key(0)
    eval_out = np.asarray(model(ids))
    assert np.array_equal(np.asarray(model(ids, dropout_key=key)), eval_out)  # eval mode: key ignored
    model.train()
    with pytest.raises(InputError, match="dropout_key"):
        model(ids)
    train_out = np.asarray(model(ids, dropout_key=key))
    assert not np.allclose(train_out, eval_out)
    assert np.array_equal(train_out, np.asarray(model(ids, dropout_key=key)))
    model.eval()
    assert np.array_equal(np.asarray(model(ids)), eval_out)


@pytest.mark.parametrize("field, value, match", [
    ("do_layer_norm_before", False, "do_layer_norm_before"),
    ("word_embed_proj_dim", 16, "word_embed_proj_dim"),
    ("activation_function", "gelu", "activation_function"),
    ("tie_word_embeddings", False, "tie_word_embeddings"),
    ("rope_theta", 10000.0, "rope_theta"),
    ("num_attention_heads", 5, "divisible"),
    ("eos_token_id", [2, 3], "eos_token_id"),
])
def test_unsupported_configs_are_refused_by_name(field, value, match):
    hf = ModelConfig(vocab_size=64, hidden_size=32, num_layers=1, num_heads=4, ffn_dim=8, max_positions=16).to_hf()
    hf[field] = value
    with pytest.raises(InputError, match=match):
        ModelConfig.from_hf(hf)


def test_opt350m_config_is_refused():
    hf = transformers.OPTConfig(hidden_size=1024, word_embed_proj_dim=512, do_layer_norm_before=False,
                                num_hidden_layers=24, num_attention_heads=16, ffn_dim=4096).to_dict()
    with pytest.raises(InputError, match="unsupported OPT variant"):
        ModelConfig.from_hf(hf)


def test_config_round_trips_through_transformers():
    config = ModelConfig(vocab_size=64, hidden_size=32, num_layers=3, num_heads=4, ffn_dim=8, max_positions=16)
    hf = transformers.OPTConfig(**config.to_hf()).to_dict()
    assert ModelConfig.from_hf(hf) == config


def test_bad_forward_inputs():
    config = ModelConfig(vocab_size=64, hidden_size=16, num_layers=1, num_heads=2, ffn_dim=16, max_positions=8)
    model = init_model(config)
    with pytest.raises(InputError, match="exceed the position table"):
        forward(model, np.full((1, 9), 5))
    with pytest.raises(InputError, match="outside"):
        forward(model, np.array([[2, 64]]))


def test_flops_per_token_formula():
    config = ModelConfig()  # OPT-125m
    flops = config.flops_per_token(seq_len=64)
    d, f, v = 768, 3072, 50272
    assert flops["forward"] == 12 * (8 * d * d + 4 * d * f + 4 * 64 * d) + 2 * d * v
    assert flops["train"] == 3 * flops["forward"]
