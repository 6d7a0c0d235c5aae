"""The language-model recursion (paper Fig. 1b/1c) on the seconds-long smoke preset: the loop,
exact resumption, the 10% mixing, 64-token generations, perplexity, data preprocessing, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from collapse_jax import cli
from collapse_jax import InputError
from collapse_jax.lm import data as lmdata
from collapse_jax.lm import recursion

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wikitext-2"

WORDS = ("the model was trained on data written by the previous model and its tails slowly vanished while "
         "common phrases came back again and again , as the paper shows for language models and gaussians").split()


def _corpus(directory: Path, seed: int = 0) -> Path:
    """A small wikitext-like corpus (titles, paragraphs, blank rows) in train/valid/test files."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, paragraphs in (("train", 40), ("valid", 6), ("test", 6)):
        lines = []
        for p in range(paragraphs):
            lines += [" ", f" = Article {split} {p} = ", " "]
            lines.append(" " + " ".join(rng.choice(WORDS, size=int(rng.integers(30, 60)))) + " . ")
        (directory / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _run(out, corpus, hook=None, **kw):
    return recursion.run_experiment(out, "smoke", progress=False, hook=hook, data={"source": str(corpus), "train": "auto", "valid": "auto", "test": "auto"}, **kw)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    base = tmp_path_factory.mktemp("lm")
    corpus = _corpus(base / "corpus")
    out = base / "run"
    summary = _run(out, corpus)
    return out, corpus, summary


def _files(out: Path) -> dict[str, bytes]:
    skip = {"run.json", "perplexity.png", "histograms.png", "metrics.json", "summary.csv"}  # timings differ
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
             if p.is_file() and p.name not in skip}
    files["summary.csv"] = [line.split(",")[:-3] for line in (out / "summary.csv").read_text().splitlines()]
    return files


def _metrics(out: Path) -> dict[str, dict]:
    result = {}
    for p in out.glob("setting*/seed*/gen_*/metrics.json"):
        m = json.loads(p.read_text())
        m.pop("timings")
        result[str(p.relative_to(out))] = m
    return result


def test_two_generations_run_end_to_end(smoke):
    out, _, summary = smoke
    assert summary["generations_completed"] == 4
    for setting in ("1", "2"):
        assert len(summary["per_setting"][setting]["test_ppl_mean"]) == 2
        for g in range(2):
            gen = out / f"setting{setting}" / "seed0" / f"gen_{g:02d}"
            assert (gen / "model" / "model.safetensors").is_file() and (gen / "model" / "config.json").is_file()
            with np.load(gen / "data.npz") as z:
                generated, train = z["generated"], z["train"]
            assert generated.shape == train.shape == (16, 64)  # exactly 64 new tokens per training block
            assert generated.dtype == np.int32 and generated.min() >= 0
            m = json.loads((gen / "metrics.json").read_text())
            assert m["test_ppl"] == pytest.approx(math.exp(m["test_loss"]))
            assert len(m["valid_loss"]) == 2 and m["best_valid_loss"] == min(m["valid_loss"])
            assert set(m["diversity"]) >= {"distinct_1", "distinct_4", "repeat_4"}
            assert len(m["samples"]) == 1
    assert not list(out.rglob("*.partial"))
    lines = (out / "summary.csv").read_text().splitlines()
    assert lines[0].startswith("setting,seed,generation") and len(lines) == 5
    assert (out / "perplexity.png").stat().st_size > 0 and (out / "histograms.png").stat().st_size > 0


def test_resume_after_interruptions_reproduces_the_run_exactly(smoke, tmp_path):
    reference, corpus, _ = smoke

    class Stop(Exception):
        pass

    out = tmp_path / "run"
    labels, stops = [], []
    # after epoch 1 of 2 (mid-training), after generation 1's model export, after the first
    # generated chunk (mid-generation), then to the end
    for stop_at in (1, 9, 2, None):
        count = [0]

        def hook(label, stop_at=stop_at):
            labels.append(label)
            count[0] += 1
            if stop_at is not None and count[0] == stop_at:
                stops.append(label)
                raise Stop(label)

        if stop_at is None:
            _run(out, corpus, hook=hook)
        else:
            with pytest.raises(Stop):
                _run(out, corpus, hook=hook)
    assert stops == ["setting 1 seed 0 gen 0: epoch 0", "setting 1 seed 0 gen 1: model",
                     "setting 1 seed 0 gen 1: generated 8"]
    assert _files(out) == _files(reference)
    assert _metrics(out) == _metrics(reference)


def test_finished_run_is_not_recomputed_and_other_configs_are_refused(smoke, capsys):
    out, corpus, _ = smoke
    before = {p: p.stat().st_mtime_ns for p in out.rglob("gen_*/**/*") if p.is_file()}
    _run(out, corpus)  # nothing left to do
    assert {p: p.stat().st_mtime_ns for p in before} == before
    code = cli.main(["lm", "--preset", "smoke", "--data", str(corpus), "--out", str(out), "--no-progress",
                     "--repetition-penalty", "2.0", "--seeds", "0,1"])
    err = capsys.readouterr().err
    assert code == 2 and "refusing to resume" in err and "repetition_penalty: 3.0 -> 2.0" in err and "seeds" in err
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_setting_2_keeps_a_fresh_ten_percent_of_original_blocks(smoke):
    out, _, _ = smoke
    real = np.load(out / "data.npz")["train"]
    with np.load(out / "setting2/seed0/gen_00/data.npz") as z:
        generated = z["generated"]
    with np.load(out / "setting2/seed0/gen_01/data.npz") as z:
        train, kept = z["train"], z["kept_original"]
    assert kept.size == 2  # round(0.1 * 16)
    assert np.array_equal(train[kept], real[kept])
    others = np.setdiff1d(np.arange(16), kept)
    assert np.array_equal(train[others], generated[others])
    with np.load(out / "setting1/seed0/gen_01/data.npz") as z:
        assert z["kept_original"].size == 0
    # larger data: exactly 10% each generation, a different sample every generation
    n = 500
    orig, gen = np.arange(n)[:, None] * np.ones((1, 4), int), -np.ones((n, 4), int)
    samples = []
    for g in range(1, 6):
        mixed, idx = recursion.mix_original(gen, orig, 0.1, recursion._stream(0, "2", g, "mix"))
        assert idx.size == 50 and np.sum(mixed[:, 0] >= 0) == 50 and np.array_equal(mixed[idx], orig[idx])
        samples.append(tuple(idx))
    assert len(set(samples)) == 5


def test_test_perplexity_equals_torch_mean_token_loss(smoke):
    torch = pytest.importorskip("torch")
    from transformers import OPTForCausalLM

    out, _, _ = smoke
    test = np.load(out / "data.npz")["test"]
    for gen in ("setting1/seed0/gen_00", "setting2/seed0/gen_01"):
        model = OPTForCausalLM.from_pretrained(str(out / gen / "model")).eval()
        with torch.no_grad():
            ids = torch.tensor(test, dtype=torch.long)
            loss = model(ids, labels=ids).loss.item()  # mean over all 63 * N predicted tokens
        m = json.loads((out / gen / "metrics.json").read_text())
        assert m["test_tokens"] == 63 * test.shape[0]
        assert m["test_ppl"] == pytest.approx(math.exp(loss), rel=1e-4)


# ------------------------------------------------------------------------------ data and bad input


def test_rows_blocks_and_diversity():
    assert lmdata.rows_from_text(" \n = T = \n text \n") == ["", " = T = \n", " text \n"]
    rows, held = lmdata.split_holdout(["", " = A = \n", "a\n", "", " = B = \n", "b\n", "", " = C = \n", "c\n", "d\n"],
                                      0.3)
    assert held[0] == " = C = \n" and rows + held == ["", " = A = \n", "a\n", "", " = B = \n", "b\n", "",
                                                      " = C = \n", "c\n", "d\n"]

    class Tok:  # BOS per row, one id per character
        def __call__(self, rows):
            return {"input_ids": [[2] + [10 + ord(c) % 50 for c in r] for r in rows]}

    blocks = lmdata.tokenize_blocks(["abc\n", "", "defgh\n"], Tok(), 4)
    assert blocks.shape == (3, 4) and blocks[0, 0] == 2 and list(blocks[1, 1:3]) == [2, 2]  # blank row: one BOS
    with pytest.raises(InputError, match="fewer than one block of 64"):
        lmdata.tokenize_blocks(["abc\n"], Tok(), 64)
    d = lmdata.diversity(np.array([[1, 2, 1, 2, 1], [3, 3, 3, 3, 3]]), vocab=8, orders=(1, 2))
    assert d["distinct_1"] == pytest.approx(3 / 10) and d["distinct_2"] == pytest.approx(3 / 8)
    assert d["repeat_1"] == pytest.approx(7 / 10) and d["repeat_2"] == pytest.approx(5 / 8)


@pytest.mark.skipif(not SHARED.is_dir(), reason="the offline wikitext-2 copy is not beside the checkout")
def test_cpu_preset_reads_the_offline_corpus():
    cfg = recursion.resolve_config("cpu")
    assert cfg["data"]["train"] == "valid.txt" and cfg["data"]["valid"] is None and cfg["data"]["test"] == "test.txt"
    rows = lmdata.load_rows(cfg["data"])
    assert rows["valid"][0].strip().startswith("= ") and 0.05 < len(rows["valid"]) / len(rows["train"]) < 0.2
    assert cfg["epochs"] is None and recursion.setting_epochs(cfg, "1") == 5 and recursion.setting_epochs(cfg, "2") == 10


def _cli(*args):
    return cli.main(["lm", "--no-progress", *map(str, args)])


def test_bad_input_is_one_message_and_exit_code_2(tmp_path, capsys):
    corpus = _corpus(tmp_path / "corpus")
    cases = []
    cases.append((["--preset", "huge"], "unknown preset 'huge'"))
    cases.append((["--preset", "smoke", "--settings", "1,3"], "unknown setting '3'"))
    cases.append((["--preset", "smoke", "--data", tmp_path / "nowhere"], "does not exist"))
    empty = tmp_path / "empty"
    empty.mkdir()
    for split in ("train", "valid", "test"):
        (empty / f"{split}.txt").write_text(" \n \n")
    cases.append((["--preset", "smoke", "--data", empty], "is empty"))
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for split in ("train", "valid", "test"):
        (tiny / f"{split}.txt").write_text(" a b c \n")
    cases.append((["--preset", "smoke", "--data", tiny], "fewer than one block of 64"))
    missing = _corpus(tmp_path / "missing")
    (missing / "test.txt").unlink()
    cases.append((["--preset", "smoke", "--data", missing], "has no test file"))
    cases.append((["--preset", "smoke", "--data", corpus, "--batch-size", 17], "larger than the 16 training blocks"))
    cases.append((["--preset", "smoke", "--data", corpus, "--prompts", "mine"], "unknown prompts 'mine'"))
    cases.append((["--preset", "smoke", "--data", corpus, "--seeds", "0,x"], "seeds must be integers"))
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert _cli(*args, "--out", out) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)
        assert not out.exists()  # nothing half-made is left behind
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    assert _cli("--preset", "smoke", "--data", corpus, "--out", keep) == 2
    assert "not written by collapse-jax" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "mine"


def test_pretrained_model_directory_previous_init_and_original_prompts(smoke, tmp_path):
    """The paper preset's path offline: a local Hugging Face OPT directory (with its tokenizer) as
    the base model, each generation starting from the previous one, prompts from the real blocks."""
    from collapse_jax.lm import load_model

    out, corpus, _ = smoke
    base = out / "setting1" / "seed0" / "gen_00" / "model"  # an exported HF directory, tokenizer included
    run = tmp_path / "run"
    _run(run, corpus, settings=["2"], init="previous", prompts="original",
         model={"source": str(base)}, tokenizer={"source": "model"})
    real = np.load(run / "data.npz")["train"]
    with np.load(run / "setting2/seed0/gen_00/data.npz") as z:
        gen0 = z["generated"]
    with np.load(run / "setting2/seed0/gen_01/data.npz") as z:
        gen1 = z["generated"]
    assert gen0.shape == gen1.shape == real.shape
    m1, _ = load_model(run / "setting2/seed0/gen_01/model")
    from collapse_jax.lm.recursion import continue_blocks, resolve_config

    cfg = resolve_config("smoke", data={"source": str(corpus), "train": "auto", "valid": "auto", "test": "auto"})
    assert np.array_equal(continue_blocks(m1, real[:8], cfg), gen1[:8])  # generation 1 prompted by real blocks
