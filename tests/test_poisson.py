"""Poisson family: the exact sampler, exact identities against slow numpy references, bad input,
addressability, CLI."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from collapse_jax import InputError, Process, cli, poisson


def run(rate0=2.0, **kw):
    kw = {"samples": 5, "generations": 12, "chains": 256, "seed": 0, "progress": False, **kw}
    return poisson.simulate(rate0, **kw)


def _chi2_pvalue(draws, pmf_of):
    """Pearson chi-square of integer draws against a pmf, pooling cells expected below 5."""
    values, counts = np.unique(draws, return_counts=True)
    lo, hi = int(values.min()), int(values.max())
    k = np.arange(lo, hi + 1)
    expected = pmf_of(k) * draws.size
    observed = np.zeros(k.size)
    observed[values - lo] = counts
    keep = expected >= 5
    rest_e, rest_o = draws.size - expected[keep].sum(), draws.size - observed[keep].sum()
    e, o = np.append(expected[keep], rest_e), np.append(observed[keep], rest_o)
    chi2 = np.sum((o - e) ** 2 / np.maximum(e, 1e-12))
    return stats.chi2.sf(chi2, keep.sum())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sampler_law_on_both_branches(dtype):
    """Inversion (mean < 10) and PTRS (mean >= 10) against the Poisson pmf, 20000 lanes per mean."""
    means = np.array([0.0, 0.4, 6.0, 9.99, 10.0, 57.3, 3.0e4])
    lanes = 20000
    with jax.enable_x64(dtype == "float64"):
        fdt = jnp.float64 if dtype == "float64" else jnp.float32
        keys = jax.random.split(jax.random.key(11), means.size * lanes)
        mu = jnp.asarray(np.repeat(means, lanes), fdt)
        draw = jax.jit(lambda k, m: poisson.poisson_lanes(m, poisson.kernel.lane_uniforms(k, fdt)))
        draws = np.asarray(draw(keys, mu))
    draws = draws.reshape(means.size, lanes)
    assert np.all(draws == np.round(draws)) and np.all(draws[0] == 0)
    for mean, x in zip(means[1:], draws[1:]):
        assert _chi2_pvalue(x.astype(np.int64), lambda k: stats.poisson.pmf(k, mean)) > 1e-4, mean


def test_log_pmf_is_accurate_in_float32():
    k = jnp.asarray([0.0, 1.0, 7.0, 1.0e4, 2.0e6], jnp.float32)
    mu = jnp.asarray([3.0, 0.5, 7.2, 1.0e4, 2.0e6 + 1500.0], jnp.float32)
    got = np.asarray(poisson.log_poisson_pmf(k, mu), np.float64)
    exact = stats.poisson.logpmf(np.asarray(k, np.float64), np.asarray(mu, np.float64))
    np.testing.assert_allclose(got, exact, rtol=2e-5, atol=2e-5)


def test_shapes_events_and_absorption_is_final():
    r = run(rate0=0.6, samples=3, generations=40)
    assert set(r.metrics) == {"rate", "absorbed"} and r.metrics["rate"].shape == (41, 256)
    assert np.all(r.metrics["rate"][0] == 0.6)
    counts = r.metrics["rate"][1:] * 3  # every fitted rate is a count over M
    assert np.allclose(counts, np.round(counts), atol=1e-4)
    dead = r.metrics["absorbed"] > 0
    assert np.all(dead[1:] >= dead[:-1])  # 0 is absorbing without real data
    first = np.where(dead.any(0), dead.argmax(0), -1)
    np.testing.assert_array_equal(first, r.events["absorbed_at"])
    np.testing.assert_array_equal(r.final["rate"], r.metrics["rate"][-1])


def test_law_of_two_generations_matches_transition_matrix():
    """λ_2 of M = 2, λ_0 = 0.7 against the exact chain S_{t+1} ~ Poisson(S_t M_{t+1}/M_t) on counts."""
    r = run(rate0=0.7, schedule=[2, 3], generations=2, chains=30000)
    top = 60
    s1 = stats.poisson.pmf(np.arange(top), 2 * 0.7)
    trans = stats.poisson.pmf(np.arange(top)[None, :], np.arange(top)[:, None] * 3 / 2)
    s2 = s1 @ trans
    draws = np.rint(r.metrics["rate"][2].astype(np.float64) * 3).astype(np.int64)
    assert _chi2_pvalue(draws, lambda k: s2[np.minimum(k, top - 1)]) > 1e-4


def test_zero_probability_matches_slow_numpy_recursion():
    """The composition of Laplace maps equals the transition-matrix probability of S_t = 0, for a
    non-constant schedule and for constant M (Suresh et al.'s g^{∘t})."""
    for sizes, rate0 in (([3, 5, 2, 4, 6, 3], 0.8), ([4] * 6, 1.3)):
        sizes = np.asarray(sizes)
        top = 120
        dist = stats.poisson.pmf(np.arange(top), sizes[0] * rate0)
        slow = [0.0, dist[0]]
        for prev, m in zip(sizes[:-1], sizes[1:]):
            dist = dist @ stats.poisson.pmf(np.arange(top)[None, :], np.arange(top)[:, None] * m / prev)
            slow.append(dist[0])
        fast = poisson.zero_probability(sizes, rate0, np.arange(sizes.size + 1))
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-14)


def test_moment_recursion_reduces_to_known_forms():
    first, second = poisson.rate_moments(Process.resolve(samples=8, generations=20), 2.5)
    np.testing.assert_allclose(first, 2.5)
    np.testing.assert_allclose(second - first**2, 2.5 * np.arange(21) / 8)
    first, second = poisson.rate_moments(Process.resolve(samples=8, generations=20, workflow="accumulate"), 2.5)
    harmonic2 = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 21) ** 2)])
    np.testing.assert_allclose(second - first**2, 2.5 / 8 * harmonic2)


def test_chains_are_addressable():
    big = run(chains=40, gamma=0.3)
    part = run(chains=8, first_chain=30, gamma=0.3)
    np.testing.assert_array_equal(part.metrics["rate"], big.metrics["rate"][:, 30:38])
    again = run(chains=40, gamma=0.3)
    np.testing.assert_array_equal(again.metrics["rate"], big.metrics["rate"])
    assert not np.array_equal(run(chains=40, seed=1, gamma=0.3).metrics["rate"], big.metrics["rate"])


def test_float64_and_accumulate():
    r = run(dtype="float64", workflow="accumulate", rate0=1e7, samples=1000, generations=3, chains=16)
    assert r.metrics["rate"].dtype == np.float64
    pooled = r.metrics["rate"][3] * 3000
    assert np.allclose(pooled, np.round(pooled))  # exact integer pooled counts far beyond 2^24
    assert np.all(np.abs(r.metrics["rate"][3] / 1e7 - 1) < 6 * np.sqrt(1 / (1e7 * 1000)))


@pytest.mark.parametrize("kw,message", [
    ({"rate0": -1.0}, "rate0 must be >= 0"),
    ({"rate0": float("nan")}, "finite"),
    ({"beta": 0.2}, "beta > 0 is not supported"),
    ({"workflow": "accumulate-subsample"}, "keeps only the pooled sum"),
    ({"samples": 0}, "samples must be >= 1"),
    ({"gamma": 1.5}, "must lie in"),
    ({"dtype": "float16"}, "unknown dtype"),
])
def test_bad_input(kw, message):
    kw = {"samples": 5, "generations": 2, "chains": 2, "progress": False, **kw}
    rate0 = kw.pop("rate0", 1.0)
    with pytest.raises(InputError, match=message):
        poisson.simulate(rate0, **kw)


def test_cli_exit_codes_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["poisson", "--rate", "1.5", "--samples", "4", "--generations", "20", "--chains", "200",
                     "--out", str(out), "--no-progress"]) == 0
    assert {"summary.csv", "metrics.npz", "final.npz", "rate.png", "absorption.png"} <= {p.name for p in out.iterdir()}
    assert cli.main(["poisson", "--rate", "-2", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "rate0 must be >= 0" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()
