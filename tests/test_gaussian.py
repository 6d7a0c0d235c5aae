"""Gaussian family: exact samplers, numerics of collapse, bad input, CLI.

Statistical tolerances come from each run's own standard error (|z| <= 4, fixed seeds)."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from collapse_jax import cli, gaussian
from collapse_jax import samplers
from collapse_jax.gaussian.kernel import ldl_of
from collapse_jax.samplers import wishart
from collapse_jax import InputError

Z_MAX = 4.0


def _z(samples, predicted):
    x = np.asarray(samples, np.float64)
    return (x.mean() - predicted) / (x.std(ddof=1) / math.sqrt(x.size))


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------

def _loggamma_draws(a, n, rounds, dtype=jnp.float32, seed=3):
    keys = jax.random.split(jax.random.key(seed), n)
    draw = jax.jit(jax.vmap(lambda k: samplers.loggamma(k, jnp.asarray(a, dtype), rounds)))
    return np.asarray(draw(keys), np.float64)


@pytest.mark.parametrize("a", [0.05, 0.3, 1.0, 4.5, 49.5, 5e5])
def test_loggamma_is_gamma(a):
    """KS against scipy's Gamma(a) on the log scale (where a small shape's draws live: Gamma(0.05) is
    below 1e-20 with probability 0.09), and E ln G = ψ(a) exactly."""
    from scipy import special

    x = _loggamma_draws(a, 20000, rounds=2)
    assert np.all(np.isfinite(x))
    assert abs(_z(x, special.digamma(a))) < Z_MAX, a
    assert stats.kstest(x, lambda t: stats.gamma(a).cdf(np.exp(t))).pvalue > 1e-3, a


@pytest.mark.parametrize("a", [0.3, 1.0, 49.5])
def test_loggamma_fallback_continues_the_lane_sequence(a):
    """The rare path forced: attempt r of a lane is the same counter-based draw however many rounds
    are made up front, so rounds = 0 (every lane in the fallback loop), 1 and 4 accept the same
    attempt of every lane (equal to float32 rounding of differently compiled programs; another
    attempt would differ by O(0.1)), and the law holds with the loop doing all the work (a = 1 is
    Marsaglia–Tsang's worst rejection rate, 4.8%)."""
    draws = [_loggamma_draws(a, 20000, rounds=r) for r in (0, 1, 4)]
    ulps = 32 * np.finfo(np.float32).eps * (1 + np.abs(draws[0]))
    assert np.all(np.abs(draws[1] - draws[0]) <= ulps)
    assert np.all(np.abs(draws[2] - draws[0]) <= ulps)
    assert stats.kstest(draws[0], lambda t: stats.gamma(a).cdf(np.exp(t))).pvalue > 1e-3


def test_loggamma_float64_and_bad_shapes():
    with jax.enable_x64(True):
        x = _loggamma_draws(2.5, 20000, rounds=2, dtype=jnp.float64)
    assert stats.kstest(np.exp(x), stats.gamma(2.5).cdf).pvalue > 1e-3
    # a non-finite or non-positive shape returns NaN at once (the loop can never spin on it)
    out = np.asarray(jax.jit(samplers.loggamma)(jax.random.key(0), jnp.asarray([0.0, -1.0, np.nan, np.inf, 2.0])))
    assert np.all(np.isnan(out[:4])) and np.isfinite(out[4])


def test_uniform_words_are_open_interval():
    """Extreme Threefry words map strictly inside (0, 1), so log u and erf⁻¹(2u − 1) stay finite."""
    from collapse_jax.samplers import gamma
    from collapse_jax.samplers.threefry import bits_to_unit, fine_unit

    w = jnp.asarray([0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF], jnp.uint32)
    u32 = np.asarray(bits_to_unit(w, jnp.float32))
    assert np.all((u32 > 0) & (u32 < 1))
    assert np.all(np.isfinite(np.asarray(gamma.normal_from_unit(jnp.asarray(u32)))))
    with jax.enable_x64(True):
        u64 = np.asarray(fine_unit(w, w, jnp.float64))
        assert np.all((u64 > 0) & (u64 < 1))
        assert np.all(np.isfinite(np.asarray(gamma.normal_from_unit(jnp.asarray(u64)))))


@pytest.mark.parametrize("rounds", [0, 2])
def test_bartlett_diagonal_is_chi_square(rounds):
    """2·log_diag[k] = ln χ²_{ν−k}: KS per k at a small ν (shapes 2, 1.5, 1, 0.5) against scipy's chi2,
    with the lanes form of the sampler (many chains at once), up-front rounds and the fallback only."""
    d, nu, n = 4, 4.0, 20000
    k0, k1 = samplers.gamma.key_words(jax.random.split(jax.random.key(11), n))
    log_b, lower = jax.jit(lambda a, b: wishart.bartlett_words(a, b, nu, d, jnp.float32, rounds=rounds))(k0, k1)
    chi2 = np.exp(2.0 * np.asarray(log_b, np.float64))
    for k in range(d):
        assert stats.kstest(chi2[k], stats.chi2(nu - k).cdf).pvalue > 1e-3, k
    low = np.asarray(lower, np.float64)
    assert np.all(np.triu(np.moveaxis(low, -1, 0)) == 0)
    assert stats.kstest(low[3, 1], stats.norm.cdf).pvalue > 1e-3
    assert abs(np.corrcoef(low[3, 1], low[2, 0])[0, 1]) < 4 / math.sqrt(n)


def test_plain_factorisations_match_numpy():
    """The LAPACK-free Cholesky and LQ factors the kernels use (see test_kernels_contain_no_lapack_call)."""
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        a = rng.standard_normal((4, 9))
        F = np.asarray(wishart.lower_factor(jnp.asarray(a)))
        assert np.allclose(np.triu(F, 1), 0) and np.allclose(F @ F.T, a @ a.T, atol=1e-12)
        S = a @ a.T
        np.testing.assert_allclose(np.asarray(wishart.cholesky_lower(jnp.asarray(S))), np.linalg.cholesky(S),
                                   atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 7, 12])
def test_ldl_update_matches_dense_product(d):
    """(U', ℓ', μ') of L·B/√div and μ + L w against the dense float64 product and numpy's Cholesky, for a
    batch of lanes; and the singular case (dead columns of L or B) against the same product with
    those columns zeroed."""
    rng = np.random.default_rng(d)
    lanes = 5

    def lower_tri(scale):
        return np.moveaxis(np.tril(scale * rng.standard_normal((lanes, d, d)), -1), 0, -1)

    U = lower_tri(0.5) + np.eye(d)[..., None]
    ell, log_b = rng.uniform(-3, 1, (d, lanes)), rng.uniform(-1, 1, (d, lanes))
    lower, mu, w = lower_tri(1.0), rng.standard_normal((d, lanes)), rng.standard_normal((d, lanes))
    log_div = 0.7
    with jax.enable_x64(True):
        U2, ell2, mu2 = (np.asarray(a) for a in wishart.ldl_update(
            *(jnp.asarray(a) for a in (U, ell, log_b, lower)), log_div, mean=(jnp.asarray(mu), jnp.asarray(w)),
            full_rank=True))
        for c in range(lanes):
            L = U[..., c] * np.exp(ell[:, c])
            B = np.diag(np.exp(log_b[:, c])) + lower[..., c]
            U_ref, ell_ref = ldl_of((L @ B) @ (L @ B).T * math.exp(-log_div))
            np.testing.assert_allclose(U2[..., c], U_ref, atol=1e-10)
            np.testing.assert_allclose(ell2[:, c], ell_ref, atol=1e-10)
            np.testing.assert_allclose(mu2[:, c], mu[:, c] + L @ w[:, c], atol=1e-10)
        if d < 2:
            return
        # singular: L's last column dead (ℓ = −inf, U's column e_j) and B's column 0 dead
        ell[-1], log_b[0] = -np.inf, -np.inf
        U[:, -1] = np.eye(d)[:, -1:]
        lower[:, 0] = 0.0
        U3, ell3 = (np.asarray(a) for a in wishart.ldl_update(
            *(jnp.asarray(a) for a in (U, ell, log_b, lower)), log_div))
        assert np.all(np.isfinite(U3)) and np.all(np.isneginf(ell3[[0, -1]]))
        np.testing.assert_array_equal(U3[:, 0], np.broadcast_to(np.eye(d)[:, :1], (d, lanes)))
        np.testing.assert_array_equal(U3[:, -1], np.broadcast_to(np.eye(d)[:, -1:], (d, lanes)))
        for c in range(lanes):
            F = (U3[..., c] * np.exp(ell3[:, c])) @ (U3[..., c] * np.exp(ell3[:, c])).T
            L = U[..., c] * np.exp(ell[:, c])
            B = np.diag(np.exp(log_b[:, c])) + lower[..., c]
            np.testing.assert_allclose(F, (L @ B) @ (L @ B).T * math.exp(-log_div), atol=1e-10)


def test_bartlett_matches_direct_wishart_one_step():
    """Var S12 = (S12^2 + S11 S22)/nu for S ~ W(nu, Sigma)/nu, bartlett vs the formula; also E S."""
    d, nu, n = 3, 7, 40000
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 0.5]])
    L = np.linalg.cholesky(cov)
    keys = jax.random.split(jax.random.key(5), n)

    def draw(k):
        log_b, lower = wishart.bartlett(k, float(nu), d, jnp.float32)
        B = jnp.diag(jnp.exp(log_b)) + lower
        F = jnp.asarray(L, jnp.float32) @ B
        return F @ F.T / nu

    S = np.asarray(jax.jit(jax.vmap(draw))(keys), np.float64)
    assert abs(_z(S[:, 0, 1], cov[0, 1])) < Z_MAX
    assert abs(_z(S[:, 2, 2], cov[2, 2])) < Z_MAX
    var12 = (cov[0, 1] ** 2 + cov[0, 0] * cov[1, 1]) / nu
    assert abs(_z((S[:, 0, 1] - cov[0, 1]) ** 2, var12)) < Z_MAX


def test_singular_bartlett_rank():
    log_b, lower = jax.jit(wishart.bartlett, static_argnums=(2, 3))(jax.random.key(0), 2.0, 4, jnp.float32)
    B = np.asarray(jnp.diag(jnp.exp(log_b)) + lower)
    assert np.linalg.matrix_rank(B @ B.T) == 2
    assert np.all(np.isfinite(B))


def test_w2_device_matches_scipy_reference():
    rng = np.random.default_rng(0)
    d = 4
    A = rng.standard_normal((d, d))
    cov0 = A @ A.T + 0.5 * np.eye(d)
    res = gaussian.simulate(np.zeros(d), cov0, samples=8, generations=6, chains=5, seed=2, dtype="float64")
    tr = res.trajectory
    for g in (1, 3, 6):
        for c in range(5):
            cov = gaussian.covariance_of(tr["unit_lower"][g][c], tr["log_chol_diag"][g][c])
            ref = gaussian.w2_gaussian_reference(tr["mean"][g][c], cov, np.zeros(d), cov0)
            assert res.metrics["w2"][g, c] == pytest.approx(ref, rel=1e-9, abs=1e-9)
            ev = np.linalg.eigvalsh(cov)
            assert res.metrics["log_eig_max"][g, c] == pytest.approx(np.log(ev[-1]), abs=1e-9)
            assert res.metrics["log_eig_min"][g, c] == pytest.approx(np.log(ev[0]), abs=1e-7)
            assert res.metrics["logdet"][g, c] == pytest.approx(np.linalg.slogdet(cov)[1], abs=1e-9)
    res32 = gaussian.simulate(np.zeros(d), cov0, samples=8, generations=6, chains=5, seed=2)
    tr = res32.trajectory
    cov = gaussian.covariance_of(tr["unit_lower"][6][0], tr["log_chol_diag"][6][0])
    ref = gaussian.w2_gaussian_reference(tr["mean"][6][0], cov, np.zeros(d), cov0)
    assert res32.metrics["w2"][6, 0] == pytest.approx(ref, rel=1e-4, abs=1e-4 * np.trace(cov0))


# ---------------------------------------------------------------------------------------------
# exactness of the two samplers
# ---------------------------------------------------------------------------------------------

def test_stats_and_points_samplers_same_law():
    """Two-sample test after 5 generations: log det, a mean coordinate and tr Σ of the sufficient-
    statistic sampler against the explicit-points sampler (independent seeds)."""
    d, M, G, C = 3, 8, 5, 3000
    cov0 = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, -0.4], [0.1, -0.4, 0.7]])
    kw = dict(samples=M, generations=G, chains=C, spectral_every=0)
    a = gaussian.simulate(np.ones(d), cov0, sampler="stats", seed=11, **kw)
    b = gaussian.simulate(np.ones(d), cov0, sampler="points", seed=12, **kw)
    for name in ("logdet", "log_trace"):
        assert stats.ks_2samp(a.metrics[name][G], b.metrics[name][G]).pvalue > 1e-3, name
    assert stats.ks_2samp(a.final["mean"][:, 1], b.final["mean"][:, 1]).pvalue > 1e-3
    # and both against the exact log-det drift
    pred = a.predictions["logdet"][G]
    for r in (a, b):
        assert abs(_z(r.metrics["logdet"][G], pred)) < Z_MAX


@pytest.mark.slow
def test_points_with_mixing_and_accumulate_match_stats():
    d, M, G, C = 2, 10, 4, 2500
    for workflow, gamma in (("replace", 0.3), ("accumulate", 0.0)):
        kw = dict(samples=M, generations=G, chains=C, spectral_every=0, workflow=workflow, gamma=gamma)
        a = gaussian.simulate(np.zeros(d), np.eye(d), sampler="stats", seed=1, **kw)
        b = gaussian.simulate(np.zeros(d), np.eye(d), sampler="points", seed=2, **kw)
        assert stats.ks_2samp(a.metrics["logdet"][G], b.metrics["logdet"][G]).pvalue > 1e-3, workflow
        for r in (a, b):
            for name in ("mean_sq", "trace"):
                assert abs(_z(r.metrics[name][G], r.predictions[name][G])) < Z_MAX, (workflow, name)


def test_one_dimensional_identities():
    res = gaussian.simulate(0.0, 2.0, samples=20, generations=10, chains=20000, seed=4)
    for name in ("mean_sq", "trace", "sigma", "w2", "logdet"):
        for g in (1, 10):
            assert abs(_z(res.metrics[name][g], res.predictions[name][g])) < Z_MAX, (name, g)


def test_mle_and_schedule_predictions():
    res = gaussian.simulate(np.zeros(2), np.eye(2), samples=6, generations=8, chains=20000, seed=7,
                            estimator="mle", schedule="linear", spectral_every=0)
    for name in ("mean_sq", "trace", "logdet"):
        assert abs(_z(res.metrics[name][8], res.predictions[name][8])) < Z_MAX, name
    np.testing.assert_allclose(res.predictions["trace"][1:3], 2 * np.cumprod([1 - 1 / 6, 1 - 1 / 12]))


@pytest.mark.parametrize("spec", ["student-t:4", pytest.param("mixture:4", marks=pytest.mark.slow)])
def test_non_gaussian_original(spec):
    res = gaussian.simulate(np.zeros(2), np.eye(2), samples=30, generations=3, chains=4000, seed=9,
                            sampler="points", original=spec, spectral_every=0)
    for name in ("mean_sq", "trace"):  # second-moment identities hold for any D_0
        assert abs(_z(res.metrics[name][3], res.predictions[name][3])) < Z_MAX, (spec, name)
    assert "logdet" not in res.predictions  # the Wishart law needs Gaussian data


@pytest.mark.slow
def test_data_array_original():
    data = np.random.default_rng(0).exponential(size=(50, 2))
    res = gaussian.simulate(original=gaussian.data_original(data), samples=20, generations=2, chains=3000,
                            sampler="points", seed=1, spectral_every=0)
    assert abs(_z(res.metrics["trace"][1], np.trace(np.cov(data.T, bias=True)))) < Z_MAX


def test_accumulate_subsample_runs():
    res = gaussian.simulate(np.zeros(2), np.eye(2), samples=10, generations=4, chains=50, seed=0,
                            sampler="points", workflow="accumulate-subsample", spectral_every=0)
    assert all(np.all(np.isfinite(v)) for v in res.metrics.values())
    assert "trace" not in res.predictions


# ---------------------------------------------------------------------------------------------
# numerics, addressability
# ---------------------------------------------------------------------------------------------

def test_ten_thousand_generations_float32_no_nan():
    res = gaussian.simulate(np.zeros(3), np.eye(3), samples=10, generations=10_000, chains=8, seed=0,
                            spectral_every=500)
    for name, v in res.metrics.items():
        rows = np.arange(v.shape[0])
        computed = v[(rows % 500 == 0) | (rows == v.shape[0] - 1)] if name in ("w2", "log_eig_max", "log_eig_min") else v
        assert not np.any(np.isnan(computed)), name
    # sigma^2 far below 1e-300 while everything stays finite in float32
    assert np.all(res.metrics["logdet"][-1] < -3 * 300 * math.log(10))
    assert np.all(np.isfinite(res.final["unit_lower"])) and np.all(np.isfinite(res.final["log_chol_diag"]))
    # the almost-sure drift: (1/n) ln det within the run's spread of n kappa
    rate = res.metrics["logdet"][-1] / 10_000
    kappa = float(gaussian.kappa(np.array([10.0]), 3)[0])
    sd = math.sqrt(float(gaussian.logdet_variance_step(np.array([10.0]), 3)[0]) / 10_000)
    assert np.all(np.abs(rate - kappa) < 5 * sd)


def test_chain_addressability():
    kw = dict(samples=12, generations=5, seed=3, spectral_every=2)
    small = gaussian.simulate(np.zeros(2), np.eye(2), chains=3, **kw)
    big = gaussian.simulate(np.zeros(2), np.eye(2), chains=11, **kw)
    for name in small.metrics:
        np.testing.assert_allclose(small.metrics[name], big.metrics[name][:, :3], rtol=1e-5, atol=1e-6)


def test_spectral_every_log_default():
    """The default computes W₂ and the eigenvalues at every generation up to 16, then 4 log-spaced
    per doubling and at the last (exact there); NaN elsewhere."""
    res = gaussian.simulate(np.zeros(2), np.eye(2), samples=8, generations=40, chains=6, seed=1, progress=False)
    rows = gaussian.spectral_rows("log", 40)
    assert rows[:17].all() and rows[40] and 0 < (~rows).sum() < 24
    for name in ("w2", "log_eig_max", "log_eig_min"):
        v = res.metrics[name]
        assert np.all(np.isfinite(v[rows])) and np.all(np.isnan(v[~rows])), name
    every = gaussian.simulate(np.zeros(2), np.eye(2), samples=8, generations=40, chains=6, seed=1, progress=False,
                              spectral_every=1)
    # the same numbers up to float32 rounding of two differently compiled programs
    np.testing.assert_allclose(res.metrics["w2"][rows], every.metrics["w2"][rows], rtol=1e-5, atol=1e-6)


def test_float64_option():
    res = gaussian.simulate(0.0, 1.0, samples=5, generations=3, chains=4, dtype="float64")
    assert res.final["mean"].dtype == np.float64
    assert jnp.zeros(1).dtype == jnp.float32  # x64 switched off again after the run


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(mean0=[0, 0], cov0=[[1, 0.5], [0, 1]]), "not symmetric"),
    (dict(mean0=[0, 0], cov0=[[1, 2], [2, 1]]), "not positive definite"),
    (dict(mean0=[0, 0, 0], cov0=np.eye(2)), "shape"),
    (dict(mean0=[0, np.nan], cov0=np.eye(2)), "NaN"),
    (dict(mean0=[0, 0], cov0=[[1, np.nan], [np.nan, 1]]), "NaN"),
    (dict(mean0=0.0, cov0=1.0, samples=1), "M >= 2"),
    (dict(mean0=[0, 0], cov0=np.eye(2), samples=2), "singular"),
    (dict(mean0=[0, 0], cov0=np.eye(2), estimator="robust"), "unknown estimator"),
    (dict(mean0=[0, 0], cov0=np.eye(2), schedule="cubic"), "unknown schedule"),
    (dict(mean0=[0, 0], cov0=np.eye(2), original="cauchy"), "unknown original"),
    (dict(mean0=[0, 0], cov0=np.eye(2), original="student-t:2"), "> 2"),
    (dict(mean0=[0, 0], cov0=np.eye(2), original="student-t:5"), "sampler='points'"),
    (dict(mean0=[0, 0], cov0=np.eye(2), workflow="accumulate-subsample"), "sampler='points'"),
    (dict(mean0=[0, 0], cov0=np.eye(2), beta=0.2), "beta > 0"),
    (dict(mean0=[0, 0], cov0=np.eye(2), dtype="float16"), "unknown dtype"),
    (dict(mean0=[0, 0], cov0=np.eye(2), sampler="fast"), "unknown sampler"),
])
def test_bad_input(kwargs, message):
    kwargs = {"generations": 2, "chains": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        gaussian.simulate(**kwargs)


def test_bad_data_original():
    with pytest.raises(InputError, match="degenerate"):
        gaussian.data_original(np.ones((10, 2)))
    with pytest.raises(InputError, match="NaN"):
        gaussian.data_original([[0.0, np.nan], [1.0, 2.0]])


def test_cli_run_and_exit_codes(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["gaussian", "--dim", "2", "--samples", "6", "--generations", "4", "--chains", "16",
                   "--out", str(out), "--no-progress"])
    assert rc == 0
    for f in ("config.json", "metrics.npz", "summary.csv", "w2.png", "logdet.png", "ellipses.png"):
        assert (out / f).exists(), f
    before = (out / "metrics.npz").read_bytes()
    capsys.readouterr()
    # existing directory: refused, nothing lost
    assert cli.main(["gaussian", "--dim", "2", "--samples", "6", "--generations", "4", "--chains", "16",
                     "--out", str(out)]) == 2
    assert (out / "metrics.npz").read_bytes() == before
    for argv in (["--dim", "3", "--samples", "3"], ["--estimator", "nope"], ["--schedule", "weird"],
                 ["--original", "nope"], ["--dtype", "int8"], ["--variance", "-1"],
                 ["--original", "data:/nonexistent.npy", "--sampler", "points"]):
        rc = cli.main(["gaussian", "--generations", "2", "--chains", "2", "--out", str(tmp_path / "x")] + argv)
        err = capsys.readouterr().err
        assert rc == 2, argv
        assert "Traceback" not in err and "error:" in err, argv
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_cli_schedule_comparison_and_points(tmp_path):
    out = tmp_path / "cmp"
    rc = cli.main(["gaussian", "--dim", "2", "--samples", "5", "--generations", "12", "--chains", "64",
                   "--compare-schedules", "--out", str(out), "--no-progress", "--ellipse-generations", "0,3,12"])
    assert rc == 0 and (out / "schedules.png").exists() and (out / "ellipses.png").exists()
    data = tmp_path / "d0.npy"
    np.save(data, np.random.default_rng(1).standard_t(3, size=(40, 2)))
    rc = cli.main(["gaussian", "--dim", "2", "--samples", "5", "--generations", "3", "--chains", "32",
                   "--sampler", "points", "--original", f"data:{data}", "--out", str(tmp_path / "pts"),
                   "--no-progress"])
    assert rc == 0


# ---------------------------------------------------------------------------------------------
# the hang of issue 15 (item 2)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(cov0=np.eye(3) + 0.2, spectral_every=1),
    dict(cov0=np.eye(3), gamma=0.3, workflow="accumulate", spectral_every=1),
    dict(cov0=np.eye(3), sampler="points", spectral_every=1),
    dict(cov0=np.eye(3), sampler="points", original="student-t:5", gamma=0.2),
    dict(cov0=np.eye(3), sampler="points", workflow="accumulate-subsample"),
    dict(cov0=np.eye(3) + 0.2, sampler="points", samples=3, location="median", spectral_every=1),
], ids=["stats", "stats-mix-accumulate", "points", "points-student-mix", "points-subsample", "points-singular"])
def test_kernels_contain_no_lapack_call(kw):
    """The hang's mechanism needs a LAPACK custom call in the compiled block: jaxlib's batched LAPACK
    kernels block an XLA:CPU pool thread until their chunks, queued on the same pool, finish. Every
    Gaussian kernel (step and observe) is plain array code, so the hang cannot happen."""
    from collapse_jax.core.engine import _block_inputs
    from collapse_jax.core.kernel import shared
    from collapse_jax.core.streams import generation_keys
    from collapse_jax.gaussian.simulate import prepare
    from collapse_jax.core.process import Process

    process = Process.resolve(samples=kw.pop("samples", 6), generations=3, workflow=kw.pop("workflow", "replace"), gamma=kw.pop("gamma", 0.0))
    prep = prepare(np.zeros(3), kw.pop("cov0"), process=process, chains=16, **kw)
    k, params = prep.kernel, shared(**prep.params)
    keys = jax.random.split(jax.random.key(0), 16)
    state = k.init(params, 16)
    # one generation's row, one schedule column (S = 1)
    x = {n: (v[0] if n == "t" else v[0:1]) for n, v in _block_inputs(prep.table, 0, 1, 1).items()}

    def block(state, keys, x):
        state = k.step(generation_keys(keys, x["t"]), state, params, x)
        return state, k.observe(state, params, x["t"] + 1)

    text = jax.jit(block).lower(state, keys, x).compile().as_text()
    targets = set(re.findall(r'custom_call_target="([^"]+)"', text))
    assert not {t for t in targets if "lapack" in t.lower()}, targets  # XLA's own TopK is not one


_HANG_SCRIPT = """
import numpy as np
from collapse_jax import gaussian
S0 = [[2, .3, 0], [.3, 1, .2], [0, .2, .5]]
res = gaussian.simulate([1, -2, .5], S0, samples=11, generations=25, chains={chains}, seed=5, progress=False,
                        spectral_every={every!r})
assert np.isfinite(res.metrics["w2"][-1]).all()
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("chains, every", [(40000, "log")] * 3 + [(10000, 1)] * 2)
def test_default_metrics_never_hang(chains, every):
    """Issue 15 item 2: this call hung in every one of 5 fresh processes on a quiet machine
    (deadlocked LAPACK eigen-solves inside the scan). Each runs in a fresh process; the limit is
    about 10x a loaded run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run([sys.executable, "-c", _HANG_SCRIPT.format(chains=chains, every=every)], cwd=root,
                              env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gaussian.simulate(chains={chains}) did not finish in 300 s (hang)")
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
