"""The paper's repetition ablation on the smoke preset: one run per penalty in one folder, resumable,
compared on one figure; and its bad input."""

import json

import numpy as np
import pytest

from collapse_jax import InputError, cli
from collapse_jax.lm import ablation, report
from collapse_jax.lm import run as lmrun

from test_lm_recursion import _corpus


@pytest.fixture(scope="module")
def ablated(tmp_path_factory):
    base = tmp_path_factory.mktemp("ablation")
    corpus = _corpus(base / "corpus")
    out = base / "run"
    data = {"source": str(corpus), "train": "auto", "valid": "auto", "test": "auto"}
    result = ablation.run_ablation(out, "smoke", [1.0, 2.0], progress=False, settings=["1"], data=data)
    return out, corpus, data, result


def test_one_run_per_penalty_and_one_figure(ablated):
    out, _, _, result = ablated
    assert result["penalties"] == [1.0, 2.0] and set(result["per_penalty"]) == {"1", "2"}
    for p in ("1", "2"):
        sub = out / f"penalty-{p}"
        cfg = json.loads((sub / "config.json").read_text())
        assert cfg["repetition_penalty"] == float(p) and cfg["settings"] == ["1"]
        rows = report.collect(sub)
        assert [m["generation"] for m in rows] == [0, 1]
        stats = result["per_penalty"][p]["1"]
        assert stats["test_ppl"]["mean"] == pytest.approx([m["test_ppl"] for m in rows])
        assert stats["test_ppl"]["std"] == [None, None] and stats["test_ppl"]["seeds"] == [1, 1]
        assert stats["repeat_4"]["mean"] == pytest.approx([m["diversity"]["repeat_4"] for m in rows])
    # generation 0 trains on the same real data either way; the penalty changes only what it writes
    one, two = (report.collect(out / f"penalty-{p}") for p in ("1", "2"))
    assert one[0]["test_ppl"] == two[0]["test_ppl"]
    with np.load(out / "penalty-1/setting1/seed0/gen_00/data.npz") as a, \
            np.load(out / "penalty-2/setting1/seed0/gen_00/data.npz") as b:
        assert np.array_equal(a["train"], b["train"]) and not np.array_equal(a["generated"], b["generated"])
    assert (out / "ablation.png").stat().st_size > 0
    lines = (out / "ablation.csv").read_text().splitlines()
    assert lines[0] == "repetition_penalty,setting,generation,metric,mean,std,seeds" and len(lines) == 1 + 2 * 2 * 3
    md = (out / "ablation.md").read_text()
    assert "setting 1, penalty 1 | setting 1, penalty 2" in md
    assert "±" not in md.split("\n", 1)[1]  # one seed: no std in the table


def test_the_same_request_resumes_and_another_is_refused(ablated, capsys):
    out, corpus, data, _ = ablated
    before = {p: p.stat().st_mtime_ns for p in out.rglob("gen_*/metrics.json")}
    ablation.run_ablation(out, "smoke", "1,2", progress=False, settings=["1"], data=data)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    with pytest.raises(InputError, match="another request.*penalties"):
        ablation.run_ablation(out, "smoke", [1.0, 3.0], progress=False, settings=["1"], data=data)
    # the CLI's --ablation is penalties 1 and 2: the same request, so it resumes and prints both tables
    code = cli.main(["lm", "--preset", "smoke", "--data", str(corpus), "--settings", "1", "--ablation",
                     "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0 and "repetition penalty 1 ->" in printed and "repetition penalty 2 ->" in printed
    assert "ablation.png" in printed


def test_bad_ablation_input_is_one_line(tmp_path, capsys):
    corpus = _corpus(tmp_path / "corpus")
    cases = [
        (["--repetition-penalty", "1,x"], "repetition_penalty must be a number"),
        (["--repetition-penalty", "0"], "repetition_penalty must be > 0"),
        (["--repetition-penalty", "2,2"], "must be distinct"),
        (["--ablation", "--repetition-penalty", "2"], "--ablation compares"),
    ]
    for i, (args, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code = cli.main(["lm", "--preset", "smoke", "--data", str(corpus), "--out", str(out), "--no-progress", *args])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
        assert not out.exists()
    with pytest.raises(InputError, match="at least two"):
        ablation.run_ablation(tmp_path / "one", "smoke", [2.0])
    with pytest.raises(InputError, match="penalties="):
        ablation.run_ablation(tmp_path / "two", "smoke", [1.0, 2.0], repetition_penalty=3.0)
    with pytest.raises(InputError, match="one repetition_penalty"):
        lmrun.run_experiment(tmp_path / "three", "smoke", repetition_penalty="1,2")
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()
