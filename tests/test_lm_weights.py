"""Checkpoint loading and export against transformers' own files."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from lm_oracle import prompts, save, tiny_torch_model, torch, torch_logits, transformers

from collapse_jax import InputError
from collapse_jax.lm import ModelConfig, export_model, forward, init_model, key_table, load_model
from collapse_jax.lm.weights import model_from_state_dict, state_dict_from_model


@pytest.fixture(scope="module")
def torch_model():
    return tiny_torch_model(seed=5)


@pytest.fixture()
def saved(tmp_path, torch_model):
    return save(torch_model, tmp_path / "hf")


def _logits_close(model, torch_model, tol=1e-5):
    ids = prompts(2, 10, 96, seed=1)
    return np.abs(np.asarray(forward(model, ids)) - torch_logits(torch_model, ids)).max() <= tol


def test_key_table_is_a_bijection_onto_transformers_keys(torch_model):
    config = ModelConfig.from_hf(torch_model.config.to_dict())
    table = key_table(config)
    torch_keys = {k for k in torch_model.state_dict() if k != "lm_head.weight"}
    assert {"model." + k for k in table} == torch_keys
    paths = [path for path, _ in table.values()]
    assert len(set(paths)) == len(paths) == len(table)
    assert {k for k, (_, transpose) in table.items() if transpose} == {k for k in table if "proj.weight" in k
                                                                       or "fc1.weight" in k or "fc2.weight" in k}


def test_state_dict_round_trip_is_exact(torch_model):
    config = ModelConfig.from_hf(torch_model.config.to_dict())
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    out = state_dict_from_model(model_from_state_dict(config, state))
    assert set(out) == set(state) - {"lm_head.weight"}
    assert all(np.array_equal(out[k], state[k]) for k in out)


def test_prefix_free_keys_fp16_and_lm_head_are_accepted(tmp_path, saved, torch_model):
    weights = load_file(f"{saved}/model.safetensors")
    bare = {k.removeprefix("model."): v.astype(np.float16) for k, v in weights.items()}
    bare["lm_head.weight"] = bare["decoder.embed_tokens.weight"]
    save_file(bare, f"{saved}/model.safetensors")
    model, _ = load_model(saved)
    assert model.embed_tokens.embedding[...].dtype == np.float32
    assert _logits_close(model, torch_model.half().float(), tol=1e-4)


def test_pytorch_bin_checkpoint(tmp_path, torch_model):
    directory = tmp_path / "bin"
    directory.mkdir()
    torch.save(torch_model.state_dict(), directory / "pytorch_model.bin")
    (directory / "config.json").write_text(json.dumps(torch_model.config.to_dict()))
    model, _ = load_model(directory)
    assert _logits_close(model, torch_model)


def test_export_round_trip_through_from_pretrained(tmp_path, saved, torch_model):
    model, _ = load_model(saved)
    out = export_model(model, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    reloaded = transformers.OPTForCausalLM.from_pretrained(str(out)).eval()
    ids = prompts(3, 12, 96, seed=2)
    np.testing.assert_array_equal(torch_logits(reloaded, ids), torch_logits(torch_model, ids))
    with pytest.raises(InputError, match="not empty"):
        export_model(model, out)
    export_model(init_model(model.config, seed=1), out, overwrite=True)
    assert not np.array_equal(torch_logits(transformers.OPTForCausalLM.from_pretrained(str(out)).eval(), ids),
                              torch_logits(torch_model, ids))
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def _rewrite(saved, edit):
    weights = load_file(f"{saved}/model.safetensors")
    edit(weights)
    save_file(weights, f"{saved}/model.safetensors")


@pytest.mark.parametrize("edit, match", [
    (lambda w: w.pop("model.decoder.layers.1.fc2.bias"), "missing keys: decoder.layers.1.fc2.bias"),
    (lambda w: w.__setitem__("model.decoder.extra.weight", np.zeros(3, np.float32)), "unused keys: decoder.extra"),
    (lambda w: w.__setitem__("decoder.final_layer_norm.bias", np.zeros(32, np.float32)), "both with and without"),
    (lambda w: w.__setitem__("model.decoder.layers.0.fc1.weight", np.zeros((64, 31), np.float32)),
     r"decoder.layers.0.fc1.weight: checkpoint \(64, 31\) vs config \(64, 32\)"),
    (lambda w: w.__setitem__("lm_head.weight", np.ones((96, 32), np.float32)), "only tied output heads"),
])
def test_mismatched_checkpoints_fail_with_the_key_list(saved, edit, match):
    _rewrite(saved, edit)
    with pytest.raises(InputError, match=match):
        load_model(saved)


def test_checkpoint_that_disagrees_with_its_config(saved):
    config = json.loads(open(f"{saved}/config.json").read())
    config["num_hidden_layers"] = 3
    open(f"{saved}/config.json", "w").write(json.dumps(config))
    with pytest.raises(InputError, match="missing keys: decoder.layers.2"):
        load_model(saved)


def test_directories_without_config_or_weights(tmp_path, saved):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_model(tmp_path / "empty")
    (tmp_path / "hf" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="has no weights"):
        load_model(saved)
    with pytest.raises(InputError, match="not a directory"):
        load_model(tmp_path / "does-not-exist")


def test_unsupported_variant_on_disk_is_refused(saved):
    config = json.loads(open(f"{saved}/config.json").read())
    config["do_layer_norm_before"] = False
    open(f"{saved}/config.json", "w").write(json.dumps(config))
    with pytest.raises(InputError, match="do_layer_norm_before"):
        load_model(saved)


def test_hub_ids_go_through_huggingface_hub(monkeypatch, tmp_path, saved):
    import huggingface_hub

    from collapse_jax.lm import weights

    calls = []

    def snapshot_download(repo, revision=None, allow_patterns=None, local_files_only=False):
        if local_files_only:  # not in the local cache
            raise OSError("not cached")
        calls.append((repo, allow_patterns))
        return saved

    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda repo, revision=None: ["config.json",
                                                                                        "model.safetensors"])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(weights, "hub_reachable", lambda endpoint, timeout=3.0: True)
    model, config = load_model("facebook/opt-tiny-test")
    assert calls == [("facebook/opt-tiny-test", ["config.json", "model.safetensors"])]
    assert config.num_layers == 2

    def offline(repo, revision=None):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "list_repo_files", offline)
    with pytest.raises(InputError, match="facebook/opt-125m"):
        load_model("facebook/opt-125m")


def test_a_cached_hub_model_loads_without_the_network(monkeypatch, saved):
    import huggingface_hub

    from collapse_jax.lm import weights

    def snapshot_download(repo, revision=None, allow_patterns=None, local_files_only=False):
        assert local_files_only, "the network was asked although the model is cached"
        return saved

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(weights, "hub_reachable", lambda endpoint, timeout=3.0: pytest.fail("probed the network"))
    _, config = load_model("facebook/opt-cached")
    assert config.num_layers == 2
