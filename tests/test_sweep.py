"""Sweeps: grid points as lanes of one kernel, addressable chains, resumable chunks, tidy table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from collapse_jax import InputError, discrete, sweep
from collapse_jax.cli import main as cli_main
from collapse_jax.core.engine import metric_rows

ROOT = Path(__file__).resolve().parents[1]
FLOAT_METRICS = ("gini_simpson", "entropy", "tv", "kl", "tail_lost")

# 2 x 2 grid (M, gamma) + a second schedule; 24 chains per point; 2 points per chunk.
CFG = {
    "family": "discrete", "generations": 12, "chains": 24, "metrics_every": 3, "chunk_lanes": 50,
    "fixed": {"states": 6, "init": "zipf:1.1"},
    "grid": {"samples": [10, 40], "gamma": [0.0, 0.2]},
    "cases": [{"schedule": "constant"}, {"schedule": "linear", "workflow": "replace"}],
}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "full"
    return sweep.run(CFG, out, progress=False)


def _same_chains(raw, res, rows):
    """Sweep lanes vs the single-point API: exactly the same paths (events, counts of survivors);
    float32 metric reductions may differ in the last place (XLA orders a reduction by batch shape)."""
    for name in ("surviving", "absorbed"):
        np.testing.assert_array_equal(raw[name], res.metrics[name][rows].astype(np.float32))
    for name in FLOAT_METRICS:
        np.testing.assert_allclose(raw[name], res.metrics[name][rows].astype(np.float32), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(raw["absorption_time"], res.events["absorbed_at"])
    np.testing.assert_array_equal(raw["first_extinction_time"], res.events["first_extinction"])


def test_points_are_vectorised_and_match_single_point_api(full):
    assert len(full.points) == 8
    assert full.stats["chunks"] == 4  # 2 points per chunk, all in one kernel group
    rows = metric_rows(12, 3)
    assert rows.tolist() == [0, 3, 6, 9, 12]
    for idx in (0, 7):  # constant M, gamma = 0 and linear M, gamma = 0.2
        pt = full.points[idx]
        p = pt.params
        raw = sweep.load_chains(full.out, idx)
        assert raw["gini_simpson"].shape == (5, 24)
        np.testing.assert_array_equal(raw["chain"], np.arange(24))
        res = discrete.simulate("zipf:1.1", states=6, samples=p["samples"], gamma=p["gamma"], schedule=p["schedule"],
                                generations=12, chains=24, seed=pt.rng_seed, progress=False)
        _same_chains(raw, res, rows)


def test_points_split_over_chunks_match_first_chain_offsets(tmp_path):
    cfg = {**CFG, "chains": 40, "chunk_lanes": 16, "grid": {"samples": [10]}, "cases": [], "streams": "common",
           "seeds": [3]}
    res = sweep.run(cfg, tmp_path / "split", progress=False)
    assert res.stats["chunks"] == 3 and res.points[0].rng_seed == 3
    raw = sweep.load_chains(res.out, 0)
    rows = metric_rows(12, 3)
    # chains 16..39 span two chunks; alone, through first_chain, they are the same chains
    part = discrete.simulate("zipf:1.1", states=6, samples=10, generations=12, chains=24, seed=3, first_chain=16,
                             progress=False)
    tail = {k: v[..., 16:] for k, v in raw.items() if k != "generation"}
    _same_chains(tail, part, rows)


def test_tidy_table_with_predictions(full):
    text = (full.out / "summary.csv").read_text().splitlines()
    header = text[0].split(",")
    for col in ("point", "seed", "rng_seed", "samples", "gamma", "generation", "metric", "mean", "se", "q05", "q50",
                "q95", "prediction", "z"):
        assert col in header
    gs = [r for r in full.rows if r["metric"] == "gini_simpson" and r["generation"] == 12]
    assert len(gs) == 8
    z = np.array([r["z"] for r in gs if r["prediction"] is not None])
    assert z.size == 8 and np.all(np.abs(z) < 5)  # exact E[H_t], within 5 se of 24 chains
    assert {r["metric"] for r in full.rows} >= {"absorption_time_fraction", "surviving", "tv"}
    assert (full.out / "points.csv").exists()


def test_resume_is_identical_and_never_rewrites(full, tmp_path):
    out = tmp_path / "resumed"
    assert sweep.run(CFG, out, progress=False, max_chunks=1) is None
    first = out / "chunks" / "chunk-000000.npz"
    stamp = first.stat().st_mtime_ns
    assert sweep.run(CFG, out, progress=False, max_chunks=2) is None
    res = sweep.run(CFG, out, progress=False)
    assert res.stats["new_chunks"] == 1 and res.stats["resumed_chunks"] == 3
    assert first.stat().st_mtime_ns == stamp
    assert (out / "summary.csv").read_bytes() == (full.out / "summary.csv").read_bytes()
    again = sweep.run(CFG, out, progress=False)
    assert again.stats["new_chunks"] == 0
    before = (out / "summary.csv").read_bytes()
    assert len(sweep.load(out).rows) == len(res.rows)
    assert (out / "summary.csv").read_bytes() == before


def test_changed_config_refused_naming_keys(full):
    changed = {**CFG, "grid": {"samples": [10, 50], "gamma": [0.0, 0.2]}}
    with pytest.raises(InputError, match=r"grid\.samples"):
        sweep.run(changed, full.out, progress=False)
    with pytest.raises(InputError, match="generations"):
        sweep.run({**CFG, "generations": 13}, full.out, progress=False)


def test_corrupt_chunk_refused_and_kept(tmp_path):
    out = tmp_path / "corrupt"
    sweep.run(CFG, out, progress=False, max_chunks=1)
    chunk = out / "chunks" / "chunk-000000.npz"
    chunk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="chunk-000000.npz is unreadable"):
        sweep.run(CFG, out, progress=False)
    assert chunk.read_bytes() == b"not a zip"
    (out / "sweep.json").write_text("{ truncated")
    with pytest.raises(InputError, match="sweep.json is unreadable"):
        sweep.run(CFG, out, progress=False)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and was not written by collapse-jax"):
        sweep.run(CFG, stranger, progress=False)
    with pytest.raises(InputError, match="not a sweep directory"):
        sweep.load(stranger)


@pytest.mark.parametrize("edit, message", [
    ({"bogus": 1}, "unknown config key 'bogus'"),
    ({"grid": {"M": [1, 2]}}, r"unknown discrete parameter grid\.'M'"),
    ({"grid": {"samples": []}}, r"grid\.samples is empty"),
    ({"grid": {"samples": ["ten"]}}, r"samples must be an integer"),
    ({"grid": {"samples": 10}}, r"grid\.samples must be a list"),
    ({"grid": {"gamma": [0.0, 1.5]}}, "mixing weight"),
    ({"grid": {"samples": [0]}}, "samples must be >= 1"),
    ({"fixed": {"states": 6, "init": "zipf:-1"}}, "zipf exponent"),
    ({"generations": 0}, "generations must be >= 1"),
    ({"seeds": []}, "seeds"),
    ({"metrics": ["w2"]}, "unknown metric 'w2'"),
    ({"family": "vae"}, "unknown family"),
])
def test_bad_config(edit, message, tmp_path):
    with pytest.raises(InputError, match=message):
        sweep.run({**CFG, **edit}, tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_cli_exit_code_2_and_dry_run(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('family = "discrete"\ngenerations = 5\n[grid]\nsample = [10]\n')
    assert cli_main(["sweep", str(bad)]) == 2
    assert "sample" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("generations = = 5")
    assert cli_main(["sweep", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert cli_main(["sweep", str(tmp_path / "missing.toml")]) == 2
    good = tmp_path / "good.toml"
    good.write_text('family = "discrete"\ngenerations = 5\nchains = 10\n[fixed]\nstates = 4\n'
                    '[grid]\nsamples = [10, 20]\n[scales.large]\nchains = 1000\n')
    assert cli_main(["sweep", str(good), "--dry-run", "--scale", "large"]) == 0
    assert "2 points x 1000 chains" in capsys.readouterr().out
    assert cli_main(["sweep", str(good), "--scale", "huge", "--dry-run"]) == 2


def test_gaussian_grid_is_vectorised_and_matches_single_point_api(tmp_path):
    from collapse_jax import gaussian

    cfg = {"family": "gaussian", "generations": 10, "chains": 400, "metrics_every": 5, "chunk_lanes": 800,
           "metrics": ["w2", "mean_sq", "sigma"], "fixed": {"dim": 1},
           "grid": {"samples": [20, 50], "estimator": ["unbiased", "mle"]},
           "cases": [{"workflow": "replace"}, {"workflow": "accumulate-subsample", "sampler": "points"}]}
    res = sweep.run(cfg, tmp_path / "g", progress=False)
    # one kernel for the four replace points (M and estimator per lane; two chunks of two points
    # reuse it); subsample keeps an explicit pool sized by M: one kernel per M, both estimators as lanes
    assert res.stats["chunks"] == 2 + 2
    rows = [r for r in res.rows if r["metric"] == "w2" and r["generation"] == 10 and r["workflow"] == "replace"]
    assert len(rows) == 4 and all(r["prediction"] is not None and abs(r["z"]) < 5 for r in rows)
    pt = next(p for p in res.points if p.params["estimator"] == "mle" and p.params["workflow"] == "replace"
              and p.params["samples"] == 50)
    one = gaussian.simulate(0.0, 1.0, samples=50, estimator="mle", generations=10, chains=400, seed=pt.rng_seed)
    raw = sweep.load_chains(res.out, pt.index)
    # the same draws; the sweep's per-lane M and divisor (vectors) and the single run's scalars
    # compile to differently fused float32 arithmetic: equal to a few ulps (5e-6 relative seen)
    for k in ("w2", "mean_sq", "sigma"):
        np.testing.assert_allclose(raw[k], one.metrics[k][[0, 5, 10]], rtol=2e-5, atol=1e-7)


MULTI = """
import sys, json, numpy as np, jax
from collapse_jax import sweep
cfg = json.loads(sys.argv[1])
res = sweep.run(cfg, sys.argv[2], progress=False)
print(len(jax.devices()), res.stats["chunks"])
"""


def test_four_devices_give_the_same_chains(full, tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    out = tmp_path / "four"
    proc = subprocess.run([sys.executable, "-c", MULTI, json.dumps(CFG), str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[:2] == ["4", "4"]
    for c in range(4):
        a = np.load(full.out / "chunks" / f"chunk-{c:06d}.npz")
        b = np.load(out / "chunks" / f"chunk-{c:06d}.npz")
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            if k in FLOAT_METRICS:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7)
            else:
                np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.slow
def test_killed_cli_sweep_resumes_without_loss(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text('family = "discrete"\ngenerations = 200\nchains = 400\nchunk_lanes = 400\nmetrics_every = 10\n'
                   '[fixed]\nstates = 50\n[grid]\nsamples = [100, 200, 400, 800, 1600, 3200]\n')
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "collapse_jax.cli", "sweep", str(cfg), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    import time

    while not list((out / "chunks").glob("chunk-*.npz")) if (out / "chunks").exists() else True:
        time.sleep(0.2)
        assert proc.poll() is None
    proc.kill()
    proc.wait()
    done = {p.name: p.read_bytes() for p in (out / "chunks").glob("chunk-*.npz")}
    assert 1 <= len(done) < 6
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    for name, data in done.items():
        assert (out / "chunks" / name).read_bytes() == data
    fresh = tmp_path / "fresh"
    assert subprocess.run([*cmd[:-3], "--out", str(fresh), "--no-progress"], cwd=ROOT).returncode == 0
    assert (out / "summary.csv").read_bytes() == (fresh / "summary.csv").read_bytes()


def test_multinomial_row_zero_is_addressable():
    """Regression: BTRS retry padding once raced lane 0's write-back, so chain 0 (only) could keep a
    rejected proposal and differ between a batch and the same chain run elsewhere."""
    import jax
    import jax.numpy as jnp

    from collapse_jax import samplers

    from collapse_jax.core import streams

    keys = streams.chain_keys(7, 40)
    p = jnp.full((40, 5), 0.2)
    batch = np.asarray(samplers.multinomial(keys, 1000, p))
    shifted = np.asarray(samplers.multinomial(jnp.roll(keys, 1, axis=0), 1000, p))
    np.testing.assert_array_equal(batch, np.roll(shifted, -1, axis=0))
    for c in (0, 1):
        np.testing.assert_array_equal(batch[c], np.asarray(samplers.multinomial(keys[c:c + 1], 1000, p[:1]))[0])


def test_one_compilation_per_group(tmp_path):
    """Every chunk of a group reuses one compiled block (chunks are padded to the group's width);
    a second group (another K) compiles once more."""
    from collapse_jax.core import engine

    cfg = {"family": "discrete", "generations": 7, "chains": 10, "metrics_every": 2, "chunk_lanes": 25,
           "fixed": {"init": "uniform"}, "grid": {"states": [3, 5], "samples": [10, 20, 30]}}
    before = engine._block._cache_size()
    res = sweep.run(cfg, tmp_path / "compiles", progress=False)
    assert res.stats["chunks"] == 4  # per K: 30 lanes in chunks of 25 and 5
    assert engine._block._cache_size() - before == 2
