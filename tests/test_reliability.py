"""Promises the README makes, kept under bad input: no alias seeds, no silently overridden option,
no out-of-memory crash, Ctrl-C keeps what was done, heavy tails are said to be so."""

from __future__ import annotations

import numpy as np
import pytest

from collapse_jax import InputError, cli, discrete, gaussian, sweep
from collapse_jax.core import engine, simulation, stats

FAST = dict(states=5, samples=30, generations=4, chains=8, progress=False)


def test_seeds_are_64_bit_and_never_alias():
    a = discrete.simulate("uniform", seed=0, **FAST)
    b = discrete.simulate("uniform", seed=2**32, **FAST)
    assert not np.array_equal(a.final["p"], b.final["p"])
    big = discrete.simulate("uniform", seed=2**64 - 1, **FAST)
    assert np.isfinite(big.metrics["entropy"]).all()
    with pytest.raises(InputError, match="below 2\\^64"):
        discrete.simulate("uniform", seed=2**64, **FAST)
    with pytest.raises(InputError, match="seed must be >= 0"):
        discrete.simulate("uniform", seed=-1, **FAST)
    with pytest.raises(InputError, match="below 2\\^32"):
        discrete.simulate("uniform", first_chain=2**32 - 4, **FAST)


def test_cli_huge_seed_is_one_line(capsys, tmp_path):
    assert cli.main(["discrete", "--seed", "99999999999999999999", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "below 2^64" in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_conflicting_options_are_refused_naming_both(tmp_path, capsys):
    counts = tmp_path / "five.txt"
    counts.write_text("5 4 3 2 1")
    with pytest.raises(InputError, match="states = 4 conflicts with the counts file .* 5 states"):
        discrete.simulate(f"counts:{counts}", states=4, **{k: v for k, v in FAST.items() if k != "states"})
    with pytest.raises(InputError, match="states = 5 conflicts with p0, which has 2 states"):
        discrete.simulate([0.5, 0.5], states=5, samples=10, generations=1, chains=2, progress=False)
    assert cli.main(["discrete", "--init", f"counts:{counts}", "--states", "4", "--out", str(tmp_path / "a")]) == 2
    assert "conflicts" in capsys.readouterr().err
    data = tmp_path / "1d.npy"
    np.save(data, np.random.default_rng(0).normal(size=(50, 1)))
    assert cli.main(["gaussian", "--original", f"data:{data}", "--dim", "2", "--sampler", "points",
                     "--out", str(tmp_path / "b")]) == 2
    assert "--dim 2 conflicts with --original" in capsys.readouterr().err
    assert cli.main(["gaussian", "--generations", "3", "--ellipse-generations", "1,500",
                     "--out", str(tmp_path / "c")]) == 2
    assert "generation(s) 500 of a run of 3 generations" in capsys.readouterr().err
    assert cli.main(["sweep", "experiments/absorption.toml", "--max-chunks", "-1"]) == 2
    assert "max-chunks must be >= 1" in capsys.readouterr().err
    with pytest.raises(InputError, match="process= or its keywords"):
        discrete.simulate("uniform", process=simulation.resolve_process(None, defaults={"samples": 5}), samples=10)


def test_mixing_messages_name_the_weight_that_is_wrong(tmp_path, capsys):
    assert cli.main(["discrete", "--beta", "-0.2", "--out", str(tmp_path / "m")]) == 2
    assert "mixing weight beta must lie in [0, 1], got -0.2" in capsys.readouterr().err
    with pytest.raises(InputError, match="alpha = 1 - beta - gamma must lie in \\[0, 1\\], got -0.1 at generation 0"):
        discrete.simulate("uniform", beta="exp:0.6,1", gamma="linear:0.5,0", **FAST)
    with pytest.raises(InputError, match=r"p0 must sum to 1 .*sums to 1.1$"):
        discrete.simulate([0.6, 0.5], samples=5, generations=1, chains=1, progress=False)


def test_huge_runs_are_refused_before_any_allocation(tmp_path, capsys):
    assert cli.main(["discrete", "--generations", "1000000000", "--out", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and "metrics_every" in err and not (tmp_path / "h").exists()
    with pytest.raises(InputError, match="GiB"):
        gaussian.simulate(0.0, 1.0, generations=10**9, chains=10**4, progress=False)
    cfg = {"family": "discrete", "generations": 10**9, "chains": 100, "fixed": {"states": 10}}
    points = sweep.points_of(sweep.load_config(cfg))  # what --dry-run does: plans, allocates nothing big
    chunks = sweep.plan_chunks(sweep.load_config(cfg), points)
    assert len(chunks) > 1  # a billion generations per lane is minutes of work: small chunks


def test_ctrl_c_keeps_the_completed_generations(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real_block = engine._block

    def interrupt_second_block(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_block(*args, **kwargs)

    monkeypatch.setattr(engine, "BLOCK_WORK", 8 * 4)  # 4 generations per block at 8 chains
    monkeypatch.setattr(engine, "_block", interrupt_second_block)
    with pytest.raises(simulation.Interrupted) as stop:
        discrete.simulate("uniform", states=5, samples=30, generations=10, chains=8, progress=False)
    partial = stop.value.result
    assert partial.config["generations_done"] == 4 and partial.rows.tolist() == [0, 1, 2, 3, 4]
    assert not partial.complete
    calls["n"] = 0
    out = tmp_path / "partial"
    code = cli.main(["discrete", "--states", "5", "--samples", "30", "--generations", "10", "--chains", "8",
                     "--out", str(out), "--no-progress"])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted after 4 of 10 generations" in err and "generations_done" in err
    assert np.load(out / "metrics.npz")["generation"].tolist() == [0, 1, 2, 3, 4]


def test_heavy_tails_are_flagged_not_read_as_failures():
    # E sigma_n^2 = 1 for every n, but after 400 generations at M = 20 almost every chain has
    # collapsed: the mean is carried by a handful of chains.
    r = gaussian.simulate(0.0, 1.0, samples=20, generations=400, chains=2000, seed=1, metrics_every=100,
                          progress=False)
    s = r.summary()["trace"]
    assert not s["heavy_tail"][0] and s["heavy_tail"][-1]
    assert s["tail_share"][-1] > stats.HEAVY_TAIL_SHARE
    header, rows = r.summary_rows()
    assert header[-2:] == ["tail_share", "heavy_tail"]
    last = [row for row in rows if row[0] == 400 and row[1] == "trace"][0]
    assert last[-1] == 1
    from collapse_jax.core.results import terminal_summary

    line = [text for text in terminal_summary(r, ["trace"], at=[400])][0]
    assert "heavy tail" in line and "exact" not in line
    # log det is a sum of i.i.d. increments (light-tailed): never flagged; bounded metrics never are
    assert not r.summary()["logdet"]["heavy_tail"].any()
    d = discrete.simulate("zipf:1.1", states=50, samples=100, generations=300, chains=2000, metrics_every=50,
                          progress=False)
    assert not any(s["heavy_tail"].any() for s in d.summary().values())


def test_gaussian_float64_accumulate_subsample_runs():
    r = gaussian.simulate([0.0, 1.0], np.eye(2), samples=6, generations=3, chains=4, sampler="points",
                          workflow="accumulate-subsample", dtype="float64", progress=False)
    assert np.isfinite(r.metrics["w2"]).all() and r.final["cov"].dtype == np.float64
