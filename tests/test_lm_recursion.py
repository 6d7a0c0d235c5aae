"""The language-model recursion (paper Fig. 1b/1c) on the smoke preset: the loop, exact resumption,
the 10% mixing, 64-token generations, perplexity, seeds in one directory, the report (tables and
figures), data preprocessing, damaged run directories and bad input."""

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from collapse_jax import cli
from collapse_jax import InputError
from collapse_jax.lm import config as lmconfig
from collapse_jax.lm import data as lmdata
from collapse_jax.lm import numerics, report, weights
from collapse_jax.lm import run as lmrun

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
    return lmrun.run_experiment(out, "smoke", progress=False, hook=hook, data={"source": str(corpus), "train": "auto", "valid": "auto", "test": "auto"}, **kw)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    base = tmp_path_factory.mktemp("lm")
    corpus = _corpus(base / "corpus")
    out = base / "run"
    summary = _run(out, corpus)
    return out, corpus, summary


def _files(out: Path) -> dict[str, bytes]:
    skip = {"run.json", ".collapse-jax.json", "perplexity.png", "histograms_setting1.png", "histograms_setting2.png", "metrics.json",
            "summary.csv"}  # timings and bookkeeping differ
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
    for name in ("perplexity.png", "histograms_setting1.png", "histograms_setting2.png"):
        assert (out / name).stat().st_size > 0, name
    assert "| Real |" in (out / "summary.md").read_text()


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
    assert code == 2 and "refusing to resume" in err and "repetition_penalty: 3.0 -> 2.0" in err
    assert "seeds" not in err  # other seeds may join a run (see below): only the penalty is in the way
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
        mixed, idx = numerics.mix_original(gen, orig, 0.1, numerics.stream(0, "2", g, "mix"))
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
    cfg = lmconfig.resolve_config("cpu")
    assert cfg["data"]["train"] == "valid.txt" and cfg["data"]["valid"] is None and cfg["data"]["test"] == "test.txt"
    rows = lmdata.load_rows(cfg["data"])
    assert rows["valid"][0].strip().startswith("= ") and 0.05 < len(rows["valid"]) / len(rows["train"]) < 0.2
    assert cfg["epochs"] is None and lmconfig.setting_epochs(cfg, "1") == 5 and lmconfig.setting_epochs(cfg, "2") == 10


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
    cfg = lmconfig.resolve_config("smoke", data={"source": str(corpus), "train": "auto", "valid": "auto", "test": "auto"})
    assert np.array_equal(numerics.continue_blocks(m1, real[:8], cfg), gen1[:8])  # generation 1 prompted by real blocks


# ------------------------------------------------------------------------------ seeds, report


def test_more_seeds_join_the_same_directory_and_the_table_gets_a_std(smoke, tmp_path, capsys):
    reference, corpus, _ = smoke
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    assert lmconfig.resolve_config("smoke", seeds=3, data={"source": str(corpus)})["seeds"] == [0, 1, 2]
    assert _cli("--preset", "smoke", "--data", corpus, "--out", out, "--seeds", "2", "--settings", "1") == 0
    printed = capsys.readouterr().out
    # seed 0 of both settings was there; seed 1 of setting 1 joined it
    assert "setting 1: 4 generations of 2 seeds" in printed and "setting 2: 2 generations of 1 seed" in printed
    assert json.loads((out / "config.json").read_text())["seeds"] == [0, 1]
    assert (out / "setting1/seed1/gen_01/metrics.json").is_file() and not (out / "setting2/seed1").exists()
    rows = report.collect(out)
    agg = report.aggregate(rows)
    ppl = [[m["test_ppl"] for m in rows if m["setting"] == "1" and m["generation"] == g] for g in range(2)]
    assert agg["1"]["seeds"] == [2, 2] and agg["2"]["seeds"] == [1, 1] and agg["2"]["test_ppl_std"] == [None, None]
    assert agg["1"]["test_ppl_mean"] == pytest.approx([np.mean(v) for v in ppl])
    assert agg["1"]["test_ppl_std"] == pytest.approx([np.std(v, ddof=1) for v in ppl])
    table = (out / "summary.md").read_text()
    real = next(line for line in table.splitlines() if line.startswith("| Real |"))
    assert real.count("±") == 1  # setting 1 (2 seeds) has a std, setting 2 (1 seed) has none
    # the left panels of Fig. 1b/c pool the seeds: 16 sequences per seed and generation
    pooled = report.data_perplexities(out, rows, "1")
    assert sorted(pooled) == [0, 1] and pooled[0].shape == pooled[1].shape == (32,)
    assert np.all(pooled[0] > 1)
    assert (out / "histograms_setting1.png").stat().st_size > 0


def test_seeds_as_a_count_run_and_resume_in_one_directory(smoke, tmp_path, capsys):
    """``--seeds 3``: all three seeds in one directory; a run stopped inside seed 1 resumes through
    the command line, seed 0 is what a one-seed run gives, and the table has mean ± std throughout."""
    reference, corpus, _ = smoke
    out = tmp_path / "run"

    class Stop(Exception):
        pass

    def hook(label):
        if label.startswith("setting 1 seed 1 gen 1"):
            raise Stop(label)

    with pytest.raises(Stop):
        _run(out, corpus, hook=hook, seeds=3, settings=["1"])
    assert (out / "setting1/seed1/gen_00/metrics.json").is_file() and not (out / "setting1/seed2").exists()
    assert _cli("--preset", "smoke", "--data", corpus, "--out", out, "--seeds", "3", "--settings", "1") == 0
    assert "setting 1: 6 generations of 3 seeds" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["seeds"] == [0, 1, 2]
    mine = {k: v for k, v in _metrics(out).items() if "seed0" in k}
    assert mine == {k: v for k, v in _metrics(reference).items() if k.startswith("setting1/seed0")}
    agg = report.aggregate(report.collect(out))
    assert list(agg) == ["1"] and agg["1"]["seeds"] == [3, 3] and None not in agg["1"]["test_ppl_std"]
    rows = [line for line in (out / "summary.md").read_text().splitlines() if line.startswith("| ") and "generation" not in line]
    assert len(rows) == 2 and all(line.count("±") == 1 for line in rows)
    for name in ("perplexity.png", "histograms_setting1.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.rglob("*.partial"))


def test_one_seed_prints_no_std_and_counts_generations_per_setting(smoke, capsys):
    out, corpus, _ = smoke
    assert _cli("--preset", "smoke", "--data", corpus, "--out", out) == 0  # finished: prints the table only
    printed = capsys.readouterr().out
    assert "±" not in printed and "setting 1: 2 generations of 1 seed; " not in printed
    assert "setting 1: 2 generations of 1 seed, setting 2: 2 generations of 1 seed" in printed
    assert report.fmt(3.0, None) == "3.0" and report.fmt(3.0, 0.5) == "3.0 ± 0.5" and report.fmt(None, None) == "–"


# ------------------------------------------------------------------------------ damaged run directories


def _one_line_error(args, capsys) -> str:
    assert _cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_damaged_files_give_one_line_naming_the_file_and_what_to_do(smoke, tmp_path, capsys):
    reference, corpus, _ = smoke
    args = ("--preset", "smoke", "--data", corpus)
    cases = [
        ("data.npz", lambda p: p.write_bytes(p.read_bytes()[:200]), "delete it and run again"),
        ("config.json", lambda p: p.write_text('{"preset": "smo'), "pass --overwrite"),
        ("config.json", lambda p: p.write_text("[1, 2]"), "pass --overwrite"),
        ("setting1/seed0/gen_01/metrics.json", lambda p: p.write_text("{not json"), "gen_01 and run"),
        ("setting2/seed0/gen_00/metrics.json", lambda p: p.write_text('{"setting": "2"}'), "gen_00 and run"),
        ("setting1/seed0/gen_00/data.npz", lambda p: p.write_bytes(p.read_bytes()[:-100]), "gen_00 and run"),
    ]
    for i, (name, damage, advice) in enumerate(cases):
        out = tmp_path / f"run{i}"
        shutil.copytree(reference, out)
        damage(out / name)
        err = _one_line_error((*args, "--out", out), capsys)
        assert str(out / name) in err and "damaged" in err and advice in err, err
    # a generation whose data the next one needs: damaged in the middle of a resume
    out = tmp_path / "mid"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "setting1/seed0/gen_01")
    gen0 = out / "setting1/seed0/gen_00/data.npz"
    gen0.write_bytes(gen0.read_bytes()[:1000])
    err = _one_line_error((*args, "--out", out), capsys)
    assert str(gen0) in err and "delete" in err and "gen_00" in err
    # following the advice recomputes the generation bit-identically
    shutil.rmtree(out / "setting1/seed0/gen_00")
    assert _cli(*args, "--out", out) == 0
    assert _metrics(out) == _metrics(reference)
    with np.load(out / "setting1/seed0/gen_01/data.npz") as a, np.load(reference / "setting1/seed0/gen_01/data.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in b.files)
    # a truncated checkpoint inside an unfinished generation
    out = tmp_path / "partial"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "setting2/seed0/gen_01")
    partial = out / "setting2/seed0/.gen_01.partial"
    partial.mkdir()
    (partial / "train_state.npz").write_bytes(b"PK\x03\x04 truncated")
    (partial / "train_history.json").write_text('{"train_loss": [1.0], "valid_loss": [1.0]}')
    err = _one_line_error((*args, "--out", out), capsys)
    assert "train_state.npz" in err and f"delete {partial}" in err


def test_another_configuration_is_named_briefly(smoke, tmp_path, capsys):
    reference, corpus, _ = smoke
    other = _corpus(tmp_path / "a-corpus-in-a-folder-with-a-rather-long-name-to-make-the-value-long", seed=1)
    err = _one_line_error(("--preset", "smoke", "--data", other, "--out", reference, "--lr", "0.5"), capsys)
    assert "refusing to resume" in err and "lr: 0.01 -> 0.5" in err and "data.source: '" in err and "…" in err
    assert "data_fingerprint" in err and len(err) < 700, err
    changes = lmconfig.config_changes({f"k{i}": i for i in range(10)}, {f"k{i}": -i for i in range(10)}, most=3)
    assert changes.endswith("and 6 more") and changes.count("->") == 3


def test_a_hub_model_offline_fails_at_once_with_one_line(tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants

    corpus = _corpus(tmp_path / "corpus")
    args = ("--preset", "smoke", "--data", corpus, "--model", "facebook/opt-nonexistent")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    err = _one_line_error((*args, "--out", tmp_path / "a"), capsys)
    assert "facebook/opt-nonexistent" in err and "HF_HUB_OFFLINE" in err and time.perf_counter() - start < 20
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(weights, "hub_reachable", lambda endpoint, timeout=3.0: False)
    calls = []
    monkeypatch.setattr("huggingface_hub.list_repo_files", lambda *a, **k: calls.append(a) or [])
    err = _one_line_error((*args, "--out", tmp_path / "b"), capsys)
    assert "cannot be reached" in err and not calls
