"""Loss, gradients and the train step against PyTorch; data parallelism on 4 forced CPU devices."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lm_oracle import left_pad, prompts, save, tiny_torch_model, torch

from collapse_jax import InputError
from collapse_jax.lm import (ModelConfig, adamw, evaluate_loss, init_model, init_train_state, key_table, load_model,
                             loss_and_grad, make_train_step, perplexity, sequence_nll, update_model)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch_model = tiny_torch_model(seed=3)
    model, _ = load_model(save(torch_model, tmp_path_factory.mktemp("train")))
    return torch_model, model


def test_loss_and_gradient_match_pytorch(pair):
    torch_model, model = pair
    ids, mask = left_pad(prompts(3, 12, 96, seed=1), [0, 0, 4])
    labels = np.where(mask > 0, ids, -100)
    torch_model.zero_grad()
    out = torch_model(torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels))
    out.loss.backward()
    loss, grads = loss_and_grad(model, {"input_ids": ids, "attention_mask": mask})
    assert abs(float(loss) - out.loss.item()) <= 1e-5
    flat = dict(nnx.to_flat_state(grads))
    torch_grads = {name: p.grad.numpy() for name, p in torch_model.named_parameters()}
    for key, (path, transpose) in key_table(model.config).items():
        got = np.asarray(flat[path][...])
        np.testing.assert_allclose(got.T if transpose else got, torch_grads["model." + key], atol=1e-5, rtol=1e-4,
                                   err_msg=key)


def test_eval_loss_perplexity_and_sequence_nll(pair):
    torch_model, model = pair
    ids = prompts(4, 10, 96, seed=2)
    with torch.no_grad():
        ref = torch_model(torch.tensor(ids), labels=torch.tensor(ids)).loss.item()
    assert abs(evaluate_loss(model, [ids[:2], {"input_ids": ids[2:]}]) - ref) <= 1e-5
    assert abs(perplexity(model, [ids]) - np.exp(ref)) <= 1e-4 * np.exp(ref)
    nll_B, count_B = sequence_nll(model, ids)
    assert np.all(np.asarray(count_B) == 9)
    assert abs(float(jnp.sum(nll_B)) / 36 - ref) <= 1e-5


def test_train_step_donates_state_and_learns():
    config = ModelConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=48, max_positions=32)
    model = init_model(config, seed=0)
    before = np.asarray(model.embed_tokens.embedding[...]).copy()
    tx = adamw(optax.linear_schedule(3e-3, 1e-3, 20), weight_decay=0.01, max_grad_norm=1.0)
    state = init_train_state(model, tx)
    step = make_train_step(model, tx)
    batch = {"input_ids": prompts(4, 16, 64, seed=5)}
    old = state
    state, metrics = step(state, batch)
    assert jax.tree.leaves(old.params)[0].is_deleted()  # donated
    assert np.array_equal(np.asarray(model.embed_tokens.embedding[...]), before)  # the model is untouched
    losses = [float(metrics["loss"])]
    for _ in range(9):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 10 and int(metrics["tokens"]) == 60
    assert losses[-1] < losses[0] - 0.5
    update_model(model, state)
    assert abs(evaluate_loss(model, [batch]) - losses[-1]) < 0.3
    state, _ = step(state, batch)  # the model keeps its own copy
    assert not jax.tree.leaves(nnx.state(model))[0].is_deleted()


def test_bad_batches_are_refused(pair):
    _, model = pair
    tx = adamw(1e-3)
    step = make_train_step(model, tx)
    state = init_train_state(model, tx)
    with pytest.raises(InputError, match="outside"):
        step(state, {"input_ids": np.array([[2, 500, 4]])})
    with pytest.raises(InputError, match="unknown batch keys"):
        step(state, {"input_ids": prompts(1, 4, 96), "label": prompts(1, 4, 96)})
    with pytest.raises(InputError, match="learning_rate"):
        adamw(-1.0)


_DP_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from collapse_jax.lm import ModelConfig, adamw, beam_search, init_model, init_train_state, make_train_step
    args = json.loads(sys.argv[1])
    config = ModelConfig(**args["config"])
    model = init_model(config, seed=0)
    tx = adamw(1e-3)
    state, step = init_train_state(model, tx), make_train_step(model, tx, dropout=False)
    batch = {"input_ids": np.array(args["ids"])}
    losses = []
    for _ in range(2):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    beams = beam_search(model, np.array(args["ids"])[:, :6], num_beams=2, max_new_tokens=4)
    print(json.dumps({"devices": jax.device_count(), "losses": losses,
                      "beam_devices": len(beams.sequences_BxL.sharding.device_set),
                      "param_sharding": str(jax.tree.leaves(state.params)[0].sharding),
                      "beams": np.asarray(beams.sequences_BxL).tolist()}))
""")


def _run_dp(args, devices):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _DP_SCRIPT, json.dumps(args)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_data_parallel_on_four_devices_matches_one():
    config = dict(vocab_size=64, hidden_size=16, num_layers=1, num_heads=2, ffn_dim=16, max_positions=16)
    args = {"config": config, "ids": prompts(8, 8, 64, seed=9).tolist()}
    four = _run_dp(args, 4)
    assert four["devices"] == 4 and "NamedSharding" in four["param_sharding"] and four["beam_devices"] == 4
    # the single-device reference, computed here (this process has one CPU device)
    model = init_model(ModelConfig(**config), seed=0)
    tx = adamw(1e-3)
    state, step = init_train_state(model, tx), make_train_step(model, tx, dropout=False)
    losses = []
    for _ in range(2):
        state, metrics = step(state, {"input_ids": np.array(args["ids"])})
        losses.append(float(metrics["loss"]))
    np.testing.assert_allclose(four["losses"], losses, rtol=1e-5)
    from collapse_jax.lm import beam_search

    beams = beam_search(model, np.array(args["ids"])[:, :6], num_beams=2, max_new_tokens=4)
    np.testing.assert_array_equal(np.array(four["beams"]), np.asarray(beams.sequences_BxL))


@pytest.mark.slow  # several compilations of the train step: about a minute on 2 shared cores
def test_bfloat16_matmuls_stay_within_tolerance_of_float32(pair):
    """The bf16 option (operands in bfloat16, products accumulated in float32) against the float32
    model on the same weights: loss, gradients, logits and a training step, to bf16's precision
    (8 significand bits, relative rounding 2^-9 per operand)."""
    from collapse_jax.lm import forward, with_matmul_dtype

    _, model = pair
    fast = with_matmul_dtype(model, "bfloat16")
    assert fast.config.matmul_dtype == "bfloat16" and model.config.matmul_dtype == "float32"
    assert fast.config.to_hf() == model.config.to_hf()  # not part of the Hugging Face config
    ids = prompts(4, 24, 96, seed=4)
    ref_logits, bf_logits = np.asarray(forward(model, ids)), np.asarray(forward(fast, ids))
    assert bf_logits.dtype == np.float32
    assert 0 < np.abs(bf_logits - ref_logits).max() <= 0.02 * np.abs(ref_logits).max()
    loss, grads = loss_and_grad(model, {"input_ids": ids})
    bf_loss, bf_grads = loss_and_grad(fast, {"input_ids": ids})
    assert abs(float(bf_loss) - float(loss)) <= 5e-3 * float(loss)
    total = np.sqrt(sum(np.sum(np.asarray(g[...]) ** 2) for _, g in nnx.to_flat_state(grads)))
    for (path, g), (_, h) in zip(nnx.to_flat_state(grads), nnx.to_flat_state(bf_grads)):
        g, h = np.asarray(g[...]), np.asarray(h[...])
        # 5% of each gradient; gradients that are zero in exact arithmetic (the key bias: softmax
        # ignores a shift shared by a row's scores) are compared against the whole gradient's norm
        assert np.linalg.norm(h - g) <= 0.05 * np.linalg.norm(g) + 1e-3 * total, path
    # the same update: parameters after one AdamW step agree to bf16 precision
    tx = adamw(1e-3)
    s32, s16 = init_train_state(model, tx), init_train_state(fast, tx)
    s32, m32 = make_train_step(model, tx, dropout=False)(s32, {"input_ids": ids})
    s16, m16 = make_train_step(fast, tx, dropout=False)(s16, {"input_ids": ids})
    assert abs(float(m16["loss"]) - float(m32["loss"])) <= 5e-3 * float(m32["loss"])
    for a, b in zip(jax.tree.leaves(s32.params), jax.tree.leaves(s16.params)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=2e-3, rtol=0)
    with pytest.raises(InputError, match="matmul_dtype"):
        with_matmul_dtype(model, "float16")


@pytest.mark.slow  # several compilations of the train step: about a minute on 2 shared cores
def test_compiler_options_reach_the_train_step(pair):
    _, model = pair
    tx = adamw(1e-3)
    ids = {"input_ids": prompts(2, 8, 96, seed=6)}
    plain = make_train_step(model, tx, dropout=False)(init_train_state(model, tx), ids)[1]["loss"]
    other = make_train_step(model, tx, dropout=False, compiler_options={"xla_cpu_use_onednn": True})
    assert float(other(init_train_state(model, tx), ids)[1]["loss"]) == pytest.approx(float(plain), rel=1e-5)
    bad = make_train_step(model, tx, compiler_options={"xla_no_such_option": True})
    with pytest.raises(Exception, match="xla_no_such_option"):
        bad(init_train_state(model, tx), ids)
