import itertools
import math

import numpy as np
import pytest
from scipy import stats

from collapse_jax import InputError, cli, discrete

P4 = np.array([0.5, 0.3, 0.15, 0.05])


def run(p0=P4, **kw):
    kw = {"samples": 20, "generations": 30, "chains": 256, "seed": 0, "progress": False, **kw}
    return discrete.simulate(p0, **kw)


@pytest.mark.parametrize("p0,kw,message", [
    ([0.5, -0.1, 0.6], {}, "negative entries"),
    ([0.5, float("nan"), 0.5], {}, "non-finite"),
    ([0.5, 0.4], {}, "must sum to 1"),
    ([1.0], {}, "K = 2 states"),
    ("zipf", {"states": 10}, "needs an exponent"),
    ("uniform", {"states": 1}, "states must be >= 2"),
    ("poisson:3", {"states": 10}, "unknown initial distribution"),
    ("counts:/no/such/file", {}, "cannot read counts file"),
    (P4, {"samples": 0}, "samples must be >= 1"),
    (P4, {"chains": 0}, "chains must be >= 1"),
    (P4, {"generations": -1}, "generations must be >= 0"),
    (P4, {"alpha": 0.5, "gamma": 0.2}, "must sum to 1"),
    (P4, {"beta": -0.5, "gamma": 1.5}, "must lie in"),
    (P4, {"workflow": "mix"}, "unknown workflow"),
    (P4, {"schedule": "exponential"}, "unknown schedule"),
    (P4, {"dtype": "float16"}, "unknown dtype"),
])
def test_bad_input(p0, kw, message):
    with pytest.raises(InputError, match=message):
        discrete.simulate(p0, **{"samples": 10, "generations": 2, "chains": 2, "progress": False, **kw})


def test_shapes_initial_row_and_events():
    r = run()
    assert set(r.metrics) == set(discrete.METRICS)
    for v in r.metrics.values():
        assert v.shape == (31, 256)
    h0 = 1 - np.sum(P4**2)
    assert np.allclose(r.metrics["gini_simpson"][0], h0)
    assert np.all(r.metrics["surviving"][0] == 4) and np.all(r.metrics["tv"][0] == 0)
    assert r.final["p"].shape == (256, 4)
    assert np.allclose(r.final["p"].sum(1), 1, atol=1e-6)
    # events agree with the metrics they summarise
    absorbed = r.metrics["absorbed"] > 0
    first = np.where(absorbed.any(0), absorbed.argmax(0), -1)
    assert np.array_equal(first, r.events["absorbed_at"])
    lost = r.metrics["surviving"] < 4
    assert np.array_equal(np.where(lost.any(0), lost.argmax(0), -1), r.events["first_extinction"])


def test_same_seed_same_numbers_and_chains_are_addressable():
    a = run(chains=64)
    b = run(chains=64)
    for k in a.metrics:
        assert np.array_equal(a.metrics[k], b.metrics[k])
    small = run(chains=8)
    assert np.array_equal(small.final["p"], a.final["p"][:8])
    assert np.allclose(small.metrics["gini_simpson"], a.metrics["gini_simpson"][:, :8], rtol=1e-6)
    tail = run(chains=8, first_chain=56)
    assert np.array_equal(tail.final["p"], a.final["p"][56:])
    other = run(chains=64, seed=1)
    assert not np.array_equal(other.final["p"], a.final["p"])


def test_collapsed_chains_stay_finite_and_absorbed():
    r = run(samples=5, generations=300, chains=64)
    assert np.all(r.events["absorbed_at"] >= 0)
    assert np.all(r.final["p"].max(1) == 1.0)
    for name, v in r.metrics.items():
        assert not np.isnan(v).any(), name
    assert np.all(np.isinf(r.metrics["kl"][-1]))  # KL(p0 || delta) is +inf, never NaN
    delta = run(np.array([1.0, 0.0, 0.0]), generations=5, chains=4)
    assert np.all(delta.final["p"] == [1.0, 0.0, 0.0])
    # a delta p_0 is absorbed from the start, as its row-0 metric says
    assert np.all(delta.events["absorbed_at"] == 0) and np.all(delta.metrics["absorbed"][0] == 1)


def test_two_step_law_matches_exact_transition_matrix():
    """Kernel's law after two generations equals the exact Markov chain on count vectors."""
    m = 3
    p0 = np.array([0.5, 0.3, 0.2])
    r = run(p0, samples=m, generations=2, chains=30_000)
    outcomes = [c for c in itertools.product(range(m + 1), repeat=3) if sum(c) == m]
    trans = np.array([[stats.multinomial.pmf(d, m, np.array(c) / m) for d in outcomes] for c in outcomes])
    first = np.array([stats.multinomial.pmf(c, m, p0) for c in outcomes])
    exact = first @ trans
    counts = np.rint(r.final["p"] * m).astype(int)
    index = {c: i for i, c in enumerate(outcomes)}
    observed = np.bincount([index[tuple(c)] for c in counts], minlength=len(outcomes))
    keep = exact * counts.shape[0] >= 5
    e = np.append(exact[keep], exact[~keep].sum()) * counts.shape[0]
    o = np.append(observed[keep], observed[~keep].sum())
    chi2 = np.sum((o - e) ** 2 / np.where(e > 0, e, 1))
    assert stats.chi2.sf(chi2, keep.sum()) > 1e-4


def test_huge_sample_size_is_exact_integers():
    r = run(samples=10**9, generations=1, chains=64)
    counts = r.final["p"].astype(np.float64) * 1e9
    sd = np.sqrt(1e9 * P4 * (1 - P4))
    assert np.all(np.abs(counts - 1e9 * P4) < 6 * sd)
    r64 = run(samples=10**9, generations=1, chains=16, dtype="float64")
    counts = r64.final["p"] * 1e9
    assert np.allclose(counts, np.rint(counts))  # float64: counts exactly integral


def test_workflows_and_schedules_run():
    for workflow in ("accumulate", "accumulate-subsample"):
        r = run(workflow=workflow, generations=10, chains=32)
        assert np.allclose(r.final["p"].sum(1), 1, atol=1e-5)
        assert not np.isnan(r.metrics["entropy"]).any()
    r = run(schedule="geometric:1.5", generations=10, chains=32, beta=0.3, gamma=0.1)
    assert r.config["sizes"][:3] == [20, 30, 45]
    assert "gini_simpson" not in r.predictions  # no closed form with beta > 0


def test_accumulate_pool_is_exact_pooled_frequencies():
    # Sample size 1 per generation, accumulate: the model is the pooled empirical distribution,
    # so after t generations every probability is a multiple of 1/t.
    r = run(samples=1, generations=6, chains=64, workflow="accumulate")
    scaled = r.final["p"] * 6
    assert np.allclose(scaled, np.rint(scaled), atol=1e-5)


def test_trajectory_recording():
    r = run(generations=25, chains=16, record_every=10)
    assert r.trajectory["p"].shape == (4, 16, 4)
    assert r.trajectory["generation"].tolist() == [0, 10, 20, 25]
    assert np.array_equal(r.trajectory["p"][-1], r.final["p"])


def test_predictions_exist_where_exact():
    r = run(samples=20, generations=10, chains=4)
    assert {"gini_simpson", "surviving", "tail_lost"} <= set(r.predictions)
    h = r.predictions["gini_simpson"]
    assert np.isclose(h[10], (1 - np.sum(P4**2)) * (1 - 1 / 20) ** 10)


def test_absorption_time_diffusion_formula():
    assert math.isclose(discrete.absorption_time_diffusion(np.array([0.5, 0.5]), 100), 200 * math.log(2))


def test_save_and_refuse_overwrite(tmp_path):
    r = run(generations=5, chains=16)
    out = r.save(tmp_path / "run", plot=discrete.plot)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.npz", "summary.csv", "final.npz", "gini_simpson.png", "surviving.png",
            "absorption_time.png", "final_distribution.png"} <= names
    with pytest.raises(InputError, match="already holds a collapse-jax discrete run"):
        r.save(tmp_path / "run")


def test_cli_run_and_bad_input(tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli.main(["discrete", "--states", "8", "--init", "zipf:1.1", "--samples", "30", "--generations", "12",
                     "--chains", "64", "--out", str(out), "--no-progress"])
    assert code == 0 and (out / "summary.csv").exists()
    assert cli.main(["discrete", "--states", "8", "--out", str(out), "--no-progress", "--generations", "1"]) == 2
    assert "already holds a collapse-jax discrete run" in capsys.readouterr().err
    assert cli.main(["discrete", "--states", "1", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "states must be >= 2" in err and "Traceback" not in err
    assert cli.main(["discrete", "--gamma", "0.2", "--alpha", "0.9", "--out", str(tmp_path / "y")]) == 2
    assert not (tmp_path / "y").exists()  # nothing written on bad input


def test_initial_distributions(tmp_path):
    path = tmp_path / "counts.txt"
    path.write_text("3, 1\n0 4\n")
    assert np.allclose(discrete.initial_distribution(f"counts:{path}"), [0.375, 0.125, 0.0, 0.5])
    zipf = discrete.initial_distribution("zipf:1", 3)
    assert np.allclose(zipf, np.array([1, 1 / 2, 1 / 3]) / (1 + 1 / 2 + 1 / 3))
    assert np.allclose(discrete.initial_distribution("uniform", 4), 0.25)
    (tmp_path / "bad.txt").write_text("1 x 2")
    with pytest.raises(InputError, match="numbers only"):
        discrete.initial_distribution(f"counts:{tmp_path / 'bad.txt'}")
    (tmp_path / "zero.txt").write_text("0 0")
    with pytest.raises(InputError, match="all zero"):
        discrete.initial_distribution(f"counts:{tmp_path / 'zero.txt'}")


# ---------------------------------------------------------------------------------------------
# The [K, C] kernel and addressability (issue 10)


def test_kernel_lanes_give_what_a_single_run_gives():
    """A sweep's lanes (per-lane p_0, tail and schedule column) step exactly as single runs with the
    same keys and shared values do: state and metrics bit for bit, for two schedule columns and
    the accumulate-subsample workflow with every mixing term."""
    import jax
    import jax.numpy as jnp

    from collapse_jax.core import streams
    from collapse_jax.core.kernel import Params, shared
    from collapse_jax.discrete.kernel import DiscreteKernel

    C, K = 12, P4.size
    kern = DiscreteKernel(workflow="accumulate-subsample", uses_beta=True, uses_gamma=True)
    p0 = jnp.asarray(P4, jnp.float32)
    tail = jnp.asarray(P4 <= 0.05)
    x = {"t": jnp.int32(0), "m": jnp.asarray([20, 300]), "pool": jnp.asarray([20, 300]),
         "alpha": jnp.asarray([0.7, 0.5]), "beta": jnp.asarray([0.2, 0.1]), "gamma": jnp.asarray([0.1, 0.4])}
    keys = streams.generation_keys(streams.chain_keys(5, C), jnp.int32(0))
    column = jnp.arange(C, dtype=jnp.int32) % 2
    lanes = Params({}, {"p0": jnp.broadcast_to(p0[:, None], (K, C)), "tail": jnp.broadcast_to(tail[:, None], (K, C)),
                        "column": column})
    step = jax.jit(kern.step)
    new_lanes = step(keys, kern.init(lanes, C), lanes, x)
    assert new_lanes.model.shape == (K, C) and new_lanes.pool.shape == (K, C)
    metrics_lanes = kern.observe(new_lanes, lanes, 1)
    for j in (0, 1):
        one = shared(p0=p0, tail=tail)
        one = Params(dict(one.shared, column=jnp.int32(j)), {})
        new = step(keys, kern.init(one, C), one, x)
        metrics = kern.observe(new, one, 1)
        mine = np.asarray(column) == j
        for name in ("model", "pool", "absorbed_at", "first_extinction"):
            np.testing.assert_array_equal(np.asarray(getattr(new, name))[..., mine],
                                          np.asarray(getattr(new_lanes, name))[..., mine], err_msg=name)
        # the mixture q = αp + βp_prev + γp_0 may round in the last place differently when α, β, γ
        # arrive per lane (XLA:CPU fuses the multiply-adds by shape); the draws above did not move
        np.testing.assert_allclose(np.asarray(new.prev)[..., mine], np.asarray(new_lanes.prev)[..., mine], rtol=3e-7)
        for k in metrics:
            np.testing.assert_allclose(np.asarray(metrics[k])[mine], np.asarray(metrics_lanes[k])[mine], rtol=1e-6,
                                       err_msg=k)
    np.testing.assert_allclose(np.asarray(new_lanes.model).sum(0), 1, atol=1e-6)


def _same_chains(small, big, offset=0):
    n = small.chains
    np.testing.assert_array_equal(small.final["p"], big.final["p"][offset:offset + n])
    for k in small.metrics:
        np.testing.assert_array_equal(small.metrics[k], big.metrics[k][:, offset:offset + n], err_msg=k)
    for k in small.events:
        np.testing.assert_array_equal(small.events[k], big.events[k][offset:offset + n], err_msg=k)


ADDRESS_KW = dict(states=20, generations=30, seed=3, progress=False)


@pytest.mark.parametrize("dtype,samples,workflow", [
    ("float32", 10**4, "replace"),
    ("float64", 100, "accumulate-subsample"),
    pytest.param("float32", 100, "replace", marks=pytest.mark.slow),
    pytest.param("float64", 100, "replace", marks=pytest.mark.slow),
    pytest.param("float64", 10**4, "replace", marks=pytest.mark.slow),
    pytest.param("float32", 100, "accumulate", marks=pytest.mark.slow),
    pytest.param("float32", 10**4, "accumulate", marks=pytest.mark.slow),
    pytest.param("float64", 100, "accumulate", marks=pytest.mark.slow),
    pytest.param("float64", 10**4, "accumulate", marks=pytest.mark.slow),
    pytest.param("float32", 100, "accumulate-subsample", marks=pytest.mark.slow),
    pytest.param("float32", 10**4, "accumulate-subsample", marks=pytest.mark.slow),
    pytest.param("float64", 10**4, "accumulate-subsample", marks=pytest.mark.slow),
])
def test_chains_do_not_depend_on_how_many_run_beside_them(dtype, samples, workflow):
    """The issue's reproducer: chains 0..99 of a 1000-chain run are bit-identical to a 100-chain run
    (models, metrics, events), and first_chain=517 gives the same columns as the big run; at M=100
    and 10^4 (where BTRS and its retries occur), both dtypes, replace and both accumulate
    workflows (the full matrix behind the slow marker)."""
    kw = dict(ADDRESS_KW, samples=samples, dtype=dtype, workflow=workflow)
    big = discrete.simulate("zipf:1.1", chains=1000, **kw)
    _same_chains(discrete.simulate("zipf:1.1", chains=100, **kw), big)
    _same_chains(discrete.simulate("zipf:1.1", chains=50, first_chain=517, **kw), big, offset=517)


FOUR_DEVICES = """
import sys, json, numpy as np, jax
from collapse_jax import discrete
assert len(jax.devices()) == 4
kw = json.loads(sys.argv[1])
r = discrete.simulate("zipf:1.1", chains=100, **kw)
np.savez(sys.argv[2], p=r.final["p"], **r.metrics)
"""


@pytest.mark.parametrize("dtype,samples,workflow", [
    ("float32", 10**4, "accumulate-subsample"),
    pytest.param("float64", 100, "replace", marks=pytest.mark.slow),
    pytest.param("float32", 100, "accumulate", marks=pytest.mark.slow),
    pytest.param("float64", 10**4, "replace", marks=pytest.mark.slow),
])
def test_chains_sharded_over_four_devices_are_the_same(dtype, samples, workflow, tmp_path):
    """The engine's shard_map over 4 forced host devices: every chain, metrics included, bit for bit
    as on one device (the samplers' loops run per device; a chain's draws never see the others)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    kw = dict(ADDRESS_KW, samples=samples, dtype=dtype, workflow=workflow)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    out = tmp_path / "four.npz"
    proc = subprocess.run([sys.executable, "-c", FOUR_DEVICES, json.dumps(kw), str(out)], env=env,
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = discrete.simulate("zipf:1.1", chains=100, **kw)
    with np.load(out) as four:
        np.testing.assert_array_equal(four["p"], one.final["p"])
        for k in one.metrics:
            np.testing.assert_array_equal(four[k], one.metrics[k], err_msg=k)


CACHED_RUN = """
from collapse_jax import discrete
discrete.simulate("uniform", states=5, samples=30, generations=3, chains=8, seed=0, progress=False)
"""


def test_persistent_compilation_cache_serves_the_discrete_run(tmp_path, monkeypatch):
    """On by default in the user's cache directory (here pointed at tmp_path), it receives the
    discrete run's compiled programs; COLLAPSE_JAX_CACHE=0 switches it off."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from collapse_jax.core import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("COLLAPSE_JAX_CACHE_DIR", raising=False)
    monkeypatch.delenv("COLLAPSE_JAX_CACHE", raising=False)
    assert cache.cache_dir() == tmp_path / "xdg" / "collapse-jax" / "jax"
    monkeypatch.setenv("COLLAPSE_JAX_CACHE", "0")
    assert cache.cache_dir() is None
    env = {k: v for k, v in os.environ.items() if k not in ("COLLAPSE_JAX_CACHE", "COLLAPSE_JAX_CACHE_DIR")}
    env.update(JAX_PLATFORMS="cpu", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, "-c", CACHED_RUN], env=env, cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any((tmp_path / "xdg" / "collapse-jax" / "jax").iterdir())
