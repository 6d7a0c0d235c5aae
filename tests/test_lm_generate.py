"""Generation against transformers' ``model.generate`` on tiny random models: token for token."""

import jax
import numpy as np
import pytest

from lm_oracle import left_pad, prompts, save, tiny_torch_model, torch

from collapse_jax import InputError
from collapse_jax.lm import beam_search, generate, load_model
from collapse_jax.lm.generate import apply_repetition_penalty, seen_tokens, top_k_filter, top_p_filter


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch_model = tiny_torch_model(seed=0)
    model, _ = load_model(save(torch_model, tmp_path_factory.mktemp("gen")))
    return torch_model, model


@pytest.fixture(scope="module")
def eos_pair(tmp_path_factory):
    """A model whose EOS logit is large, so beams finish early and the finished-set logic is exercised."""
    torch_model = tiny_torch_model(seed=1, eos_boost=12.0)
    model, _ = load_model(save(torch_model, tmp_path_factory.mktemp("eos")))
    return torch_model, model


def _hf(torch_model, ids, mask=None, **kwargs):
    ids_t = torch.tensor(ids)
    mask_t = torch.ones_like(ids_t) if mask is None else torch.tensor(mask)
    with torch.no_grad():
        return torch_model.generate(ids_t, attention_mask=mask_t, do_sample=False, **kwargs).numpy()


def _padded(ref, width, pad=1):
    out = np.full((ref.shape[0], width), pad, ref.dtype)
    out[:, :ref.shape[1]] = ref
    return out


@pytest.mark.parametrize("num_beams", [1, 5])
@pytest.mark.parametrize("penalty", [1.0, 3.0])
def test_paper_setting_is_token_identical(pair, num_beams, penalty):
    torch_model, model = pair
    ids = prompts(2, 16, 96, seed=7)
    kwargs = dict(max_new_tokens=64, min_new_tokens=64, repetition_penalty=penalty, num_beams=num_beams)
    ref = _hf(torch_model, ids, **kwargs)
    out = np.asarray(generate(model, ids, **kwargs))
    assert ref.shape == out.shape == (2, 80)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("early_stopping, length_penalty", [(False, 1.0), (True, 2.0), ("never", 2.0)])
def test_beam_search_with_eos_matches(eos_pair, early_stopping, length_penalty):
    torch_model, model = eos_pair
    ids = prompts(4, 8, 96, seed=0)
    ref = _hf(torch_model, ids, num_beams=3, max_new_tokens=20, early_stopping=early_stopping,
              length_penalty=length_penalty)
    assert (ref[:, 8:] == 2).any()  # some hypotheses did end with EOS
    out = beam_search(model, ids, num_beams=3, max_new_tokens=20, early_stopping=early_stopping,
                      length_penalty=length_penalty)
    np.testing.assert_array_equal(np.asarray(out.sequences_BxL), _padded(ref, 28))


def test_greedy_with_eos_and_left_padding_matches(eos_pair):
    torch_model, model = eos_pair
    ids, mask = left_pad(prompts(3, 10, 96, seed=4), [0, 4, 6])
    ref = _hf(torch_model, ids, mask, max_new_tokens=24, repetition_penalty=2.0)
    out = np.asarray(generate(model, ids, mask, max_new_tokens=24, repetition_penalty=2.0))
    np.testing.assert_array_equal(out, _padded(ref, 34))


def test_cached_and_uncached_greedy_agree(pair):
    _, model = pair
    ids, mask = left_pad(prompts(3, 12, 96, seed=2), [0, 3, 5])
    kwargs = dict(max_new_tokens=10, repetition_penalty=3.0)
    cached = np.asarray(generate(model, ids, mask, **kwargs))
    uncached = np.asarray(generate(model, ids, mask, use_cache=False, **kwargs))
    np.testing.assert_array_equal(cached, uncached)


def test_processors_match_transformers():
    from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor, TopKLogitsWarper,
                                                        TopPLogitsWarper)

    rng = np.random.RandomState(0)
    scores = rng.randn(4, 50).astype(np.float32) * 3
    scores[0, :5] = scores[0, 5]  # ties at the top-k boundary
    ids = rng.randint(0, 50, (4, 9))
    seen = seen_tokens(ids, np.ones_like(ids, bool), 50)
    got = np.asarray(apply_repetition_penalty(scores, seen, 1.7))
    want = RepetitionPenaltyLogitsProcessor(1.7)(torch.tensor(ids), torch.tensor(scores)).numpy()
    np.testing.assert_array_equal(got, want)
    for k in (1, 5, 13):
        want = TopKLogitsWarper(k)(None, torch.tensor(scores)).numpy()
        np.testing.assert_array_equal(np.asarray(top_k_filter(scores, k)), want)
    for p in (0.1, 0.5, 0.9, 1.0 - 1e-6):
        want = TopPLogitsWarper(p)(None, torch.tensor(scores)).numpy()
        np.testing.assert_array_equal(np.asarray(top_p_filter(scores, p)), want)


def test_sampling_is_keyed_and_respects_top_k(pair):
    _, model = pair
    ids = prompts(2, 6, 96, seed=3)
    kw = dict(max_new_tokens=8, do_sample=True, temperature=0.8, top_p=0.9)
    a = np.asarray(generate(model, ids, key=jax.random.key(1), **kw))
    assert np.array_equal(a, np.asarray(generate(model, ids, key=jax.random.key(1), **kw)))
    assert not np.array_equal(a, np.asarray(generate(model, ids, key=jax.random.key(2), **kw)))
    greedy = np.asarray(generate(model, ids, max_new_tokens=8))
    top1 = np.asarray(generate(model, ids, max_new_tokens=8, do_sample=True, top_k=1, key=jax.random.key(3)))
    np.testing.assert_array_equal(top1, greedy)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_beams=0), "num_beams must be >= 1"),
    (dict(do_sample=True, top_p=0.0, key=jax.random.key(0)), r"top_p must be in \(0, 1\]"),
    (dict(do_sample=True, top_p=1.5, key=jax.random.key(0)), r"top_p must be in \(0, 1\]"),
    (dict(repetition_penalty=-1.0), "repetition_penalty must be > 0"),
    (dict(temperature=0.0), "temperature must be > 0"),
    (dict(do_sample=True), "needs a PRNG key"),
    (dict(min_new_tokens=9), "exceeds max_new_tokens"),
    (dict(max_new_tokens=200), "exceeds the position table"),
    (dict(num_beams=2, early_stopping="sometimes"), "early_stopping"),
    (dict(top_k=-1), "top_k must be >= 0"),
])
def test_invalid_generation_settings(pair, kwargs, match):
    _, model = pair
    kwargs = {"max_new_tokens": 8, **kwargs}
    with pytest.raises(InputError, match=match):
        generate(model, prompts(1, 4, 96), **kwargs)


def test_invalid_prompts(pair):
    _, model = pair
    with pytest.raises(InputError, match="outside"):
        generate(model, np.array([[2, 96]]), max_new_tokens=2)
    with pytest.raises(InputError, match="shape"):
        generate(model, np.array([2, 5]), max_new_tokens=2)
    with pytest.raises(InputError, match="position table"):
        beam_search(model, prompts(1, 150, 96), max_new_tokens=64)
