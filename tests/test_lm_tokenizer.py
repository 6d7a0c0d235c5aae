"""The offline byte-level BPE with OPT's special ids and BOS behaviour, and the vocabulary check."""

import json

import pytest

from collapse_jax import InputError
from collapse_jax.lm import ModelConfig, check_tokenizer, load_tokenizer, train_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Models trained on their own outputs collapse.",
         "Generation after generation, the tails of the distribution disappear."] * 30


def _config(vocab):
    return ModelConfig(vocab_size=vocab, hidden_size=16, num_layers=1, num_heads=2, ffn_dim=16, max_positions=16)


def test_trained_tokenizer_has_opt_special_ids_and_bos(tmp_path):
    tok = train_tokenizer(TEXTS, 320, directory=tmp_path)
    assert [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (2, 2, 1)
    ids = tok("The quick brown fox")["input_ids"]
    assert ids[0] == 2 and 2 not in ids[1:]
    assert tok.decode(ids, skip_special_tokens=True) == "The quick brown fox"
    batch = tok(["a", "The quick brown fox"], padding=True)
    assert batch["input_ids"][0][-1] == 1 and batch["attention_mask"][0][-1] == 0
    (tmp_path / "config.json").write_text(json.dumps(_config(320).to_hf()))
    again = load_tokenizer(tmp_path, _config(320))
    assert again("The quick brown fox")["input_ids"] == ids


def test_vocabulary_larger_than_the_model_is_refused(tmp_path):
    tok = train_tokenizer(TEXTS, 320)
    check_tokenizer(tok, _config(len(tok)))
    with pytest.raises(InputError, match="tokenizer has .* tokens but the model's vocabulary has 100"):
        check_tokenizer(tok, _config(100))
    with pytest.raises(InputError, match="vocab_size must be >= 260"):
        train_tokenizer(TEXTS, 100)
    with pytest.raises(InputError, match="not a directory"):
        load_tokenizer(tmp_path / "missing")
