"""Gaussian family: the median location estimate (Dey & Donoho) and singular fits (M ≤ d).

Tolerances come from each run's own standard error (|z| <= 4) or KS p-values > 1e-3, fixed seeds;
parameters differ from the catalogue's (theory/gaussian.py median_location, singular_fits)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from collapse_jax import InputError, gaussian
from collapse_jax.core import streams
from collapse_jax.core.kernel import Params
from collapse_jax.core.process import Process
from collapse_jax.gaussian.kernel import State, covariance_of, masked_median

Z_MAX = 4.0


def _z(samples, predicted):
    x = np.asarray(samples, np.float64)
    return (x.mean() - predicted) / (x.std(ddof=1) / math.sqrt(x.size))


# ---------------------------------------------------------------------------------------------
# the median: definition and v_M
# ---------------------------------------------------------------------------------------------

def test_masked_median_is_the_sample_median():
    """Odd m: the middle order statistic; even m: the mean of the two middle ones (numpy's)."""
    y = np.random.default_rng(3).standard_normal((9, 4)).astype(np.float32)
    for m in range(1, 10):
        got = np.asarray(masked_median(jnp.asarray(y), jnp.float32(m)))
        np.testing.assert_allclose(got, np.median(y[:m], axis=0), rtol=0, atol=1e-7)


def test_median_second_moment_closed_values():
    v = gaussian.median_second_moment
    assert v(1) == pytest.approx(1.0, abs=1e-13)
    assert v(2) == pytest.approx(0.5, abs=1e-13)  # ((Z1 + Z2)/2)²
    assert v(3) == pytest.approx(1 - math.sqrt(3) / math.pi, abs=1e-13)
    assert v(20001) * 2 * 20001 / math.pi == pytest.approx(1.0, abs=1e-3)  # v_M ~ π/(2M)
    np.testing.assert_allclose(v(np.array([2, 3])), [0.5, 1 - math.sqrt(3) / math.pi], atol=1e-13)


@pytest.mark.parametrize("m", [4, 9, 40])
def test_median_second_moment_monte_carlo(m):
    rng = np.random.default_rng(m)
    med2 = np.median(rng.standard_normal((200_000, m)), axis=1) ** 2
    assert abs(_z(med2, gaussian.median_second_moment(m))) < Z_MAX


# ---------------------------------------------------------------------------------------------
# the median in runs
# ---------------------------------------------------------------------------------------------

def test_median_location_mean_sq_and_unchanged_covariance():
    cov0 = np.array([[1.5, 0.5], [0.5, 0.8]])
    res = gaussian.simulate(np.zeros(2), cov0, samples=5, generations=6, chains=12000, seed=21, sampler="points",
                            location="median", spectral_every=0, progress=False)
    assert res.config["location"] == "median"
    pred = 6 * gaussian.median_second_moment(5) * np.trace(cov0)
    np.testing.assert_allclose(res.predictions["mean_sq"][6], pred, rtol=1e-12)
    assert abs(_z(res.metrics["mean_sq"][6], pred)) < Z_MAX
    assert abs(_z(res.metrics["logdet"][6], res.predictions["logdet"][6])) < Z_MAX
    # the mean's n tr Σ_0 / M is 1.7 x smaller here: the run can tell the two apart
    assert _z(res.metrics["mean_sq"][6], 6 * np.trace(cov0) / 5) > 8


def test_median_one_dimensional_w2_even_m():
    res = gaussian.simulate(0.5, 2.0, samples=6, generations=4, chains=12000, seed=22, sampler="points",
                            location="median", estimator="mle", progress=False)
    for name in ("mean_sq", "w2", "sigma"):
        assert abs(_z(res.metrics[name][4], res.predictions[name][4])) < Z_MAX, name


def test_median_other_workflows_run_without_predictions():
    kw = dict(samples=7, generations=3, chains=64, seed=0, sampler="points", location="median", progress=False)
    for extra in (dict(workflow="accumulate-subsample"), dict(gamma=0.3), dict(original="student-t:5")):
        res = gaussian.simulate(np.zeros(2), np.eye(2), **kw, **extra)
        assert all(np.all(np.isfinite(v)) for v in res.metrics.values()), extra
        assert "mean_sq" not in res.predictions, extra


@pytest.mark.parametrize("kwargs, message", [
    (dict(location="median"), "sampler='points'"),
    (dict(location="median", sampler="points", workflow="accumulate"), "accumulate"),
    (dict(location="mode", sampler="points"), "unknown location"),
])
def test_median_refusals(kwargs, message):
    with pytest.raises(InputError, match=message):
        gaussian.simulate(np.zeros(2), np.eye(2), samples=5, generations=2, chains=2, **kwargs)


def test_sweep_and_cli(tmp_path):
    from collapse_jax import cli

    prepared = gaussian.SWEEP.prepare(dict(gaussian.SWEEP.defaults, sampler="points", location="median", dim=2),
                                      3)
    assert prepared.kernel.location == "median" and prepared.config["location"] == "median"
    base = ["gaussian", "--generations", "3", "--chains", "16", "--sampler", "points", "--no-progress"]
    assert cli.main(base + ["--samples", "6", "--location", "median", "--out", str(tmp_path / "median")]) == 0
    # a singular run draws its plots too (ln det = -inf)
    assert cli.main(base + ["--dim", "5", "--samples", "3", "--estimator", "mle", "--out", str(tmp_path / "sing")]) == 0
    assert (tmp_path / "sing" / "w2.png").exists()


# ---------------------------------------------------------------------------------------------
# singular fits
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [dict(), dict(workflow="accumulate"), dict(original="student-t:5"),
                                   dict(location="median"), dict(schedule="linear")])
def test_singular_runs_are_well_defined(extra):
    d, M, G = 7, 4, 6
    res = gaussian.simulate(np.zeros(d), np.eye(d), samples=M, generations=G, chains=32, seed=5, sampler="points",
                            estimator="mle", progress=False, **extra)
    m = res.metrics
    for name, v in m.items():
        assert not np.any(np.isnan(v)), name
    assert np.all(np.isneginf(m["logdet"][1:])) and np.all(np.isneginf(m["log_eig_min"][1:]))
    for name in ("w2", "trace", "log_trace", "log_eig_max", "mean_sq"):
        assert np.all(np.isfinite(m[name])), name
    live = np.isfinite(res.final["log_chol_diag"]).sum(axis=1)
    assert np.all(live == M - 1)  # linear schedule: M grows, but the points stay in the first fit's span
    assert np.all(np.isfinite(res.final["unit_lower"]))
    assert "logdet" not in res.predictions


def test_singular_first_fit_rank_and_w2_reference():
    d, M = 6, 4
    res = gaussian.simulate(np.ones(d), np.diag(np.arange(1.0, d + 1)), samples=M, generations=1, chains=6, seed=8,
                            sampler="points", estimator="mle", dtype="float64", progress=False)
    cov = res.final["cov"]
    for c in range(6):
        assert np.linalg.matrix_rank(cov[c]) == M - 1
        ref = gaussian.w2_gaussian_reference(res.final["mean"][c], cov[c], np.ones(d), np.diag(np.arange(1.0, d + 1)))
        assert res.metrics["w2"][1, c] == pytest.approx(ref, rel=1e-6)


def test_singular_sampler_law_one_step():
    """From a fixed singular fit Σ̂ (rank 3 in d = 5) one step of the points sampler (M = 4, MLE):
    for fixed a, √M a·(μ' − μ)/√(aᵀΣ̂a) ~ N(0, 1) and M aᵀΣ'a/aᵀΣ̂a ~ χ²_{M−1}; a ⊥ range Σ̂ sees 0."""
    d, M, C = 5, 4, 20000
    rng = np.random.default_rng(0)
    U = np.tril(rng.standard_normal((d, d)) * 0.5, -1) + np.eye(d)
    ell = np.array([0.2, -0.3, 0.1, -np.inf, -np.inf])
    sigma = covariance_of(U, ell)
    mu = rng.standard_normal(d)
    prepared = gaussian.prepare(np.zeros(d), np.eye(d), process=Process.resolve(samples=M, generations=3),
                                estimator="mle", sampler="points", chains=C)
    kernel = prepared.kernel
    assert kernel.singular
    params = Params(dict(prepared.params, column=np.int32(0)), {})
    x = {k: jnp.asarray(np.asarray(v)[:1]) for k, v in prepared.table(1, 2).items()}
    x["t"] = jnp.int32(1)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(streams.chain_keys(3, C))
    state = State(jnp.broadcast_to(jnp.asarray(mu, jnp.float32), (C, d)),
                  jnp.broadcast_to(jnp.asarray(U, jnp.float32), (C, d, d)),
                  jnp.broadcast_to(jnp.asarray(ell, jnp.float32), (C, d)), jnp.zeros((C, 0, d), jnp.float32))
    new = kernel.step(keys, state, params, x)
    mu2 = np.asarray(new.mean, np.float64)
    ell2 = np.asarray(new.log_chol_diag, np.float64)
    cov2 = covariance_of(np.asarray(new.unit_lower), ell2)
    assert np.all(np.isfinite(ell2[:, :3])) and np.all(np.isneginf(ell2[:, 3:]))
    for a in (np.eye(d)[0], np.eye(d)[4], rng.standard_normal(d)):
        q = a @ sigma @ a
        step = math.sqrt(M) * (mu2 - mu) @ a / math.sqrt(q)
        assert stats.kstest(step, "norm").pvalue > 1e-3
        quad = M * np.einsum("i,cij,j->c", a, cov2, a) / q
        assert stats.kstest(quad, "chi2", args=(M - 1,)).pvalue > 1e-3
    null = np.linalg.eigh(sigma)[1][:, 0]  # an eigenvector of the zero eigenvalue
    scale = np.trace(sigma)
    assert np.max(np.abs((mu2 - mu) @ null)) < 1e-5 * math.sqrt(scale)
    assert np.max(np.abs(np.einsum("i,cij,j->c", null, cov2, null))) < 1e-10 * scale


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "sampler='points'"),
    (dict(sampler="points", workflow="accumulate-subsample"), "workflow 'replace' or 'accumulate'"),
    (dict(sampler="points", gamma=0.2), "gamma = 0"),
    (dict(sampler="points", samples=1, estimator="mle"), "M >= 2"),
])
def test_singular_refusals_say_what_works(kwargs, message):
    kwargs = {"samples": 3, "generations": 2, "chains": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        gaussian.simulate(np.zeros(4), np.eye(4), **kwargs)
