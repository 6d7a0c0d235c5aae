"""GMM family: EM against scikit-learn, the closed-form L2 distance against quadrature, EM
invariants, the recursion's shapes, determinism and chain addressability, and bad input."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal, norm
from sklearn.mixture import GaussianMixture

from collapse_jax import cli, gmm
from collapse_jax import InputError


def _two_blobs(seed=0, n=600):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n // 2, 2)) @ np.array([[1.0, 0.3], [0.0, 0.6]]) + [2.0, 0.0]
    b = rng.normal(size=(n - n // 2, 2)) * 0.5 - [1.0, 1.0]
    return np.concatenate([a, b]).astype(np.float32)


def _sklearn_from(init: gmm.GMM, X, tol):
    return GaussianMixture(len(init.weights), covariance_type="full", tol=tol, max_iter=2000,
                           weights_init=np.asarray(init.weights, np.float64),
                           means_init=np.asarray(init.means, np.float64),
                           precisions_init=np.linalg.inv(np.asarray(init.covs, np.float64))).fit(X.astype(np.float64))


INITS = {
    "2d-k2": (_two_blobs(0), gmm.GMM(np.array([0.5, 0.5]), np.array([[1.0, 1.0], [-1.0, 0.0]]),
                                     np.array([np.eye(2)] * 2))),
    "1d-k3": (np.concatenate([np.random.default_rng(1).normal(m, s, 300) for m, s in ((-3, 1), (0, 0.5), (4, 1.5))])
              [:, None].astype(np.float32),
              gmm.GMM(np.array([0.3, 0.3, 0.4]), np.array([[-2.0], [0.5], [3.0]]), np.array([[[1.0]]] * 3))),
}


@pytest.mark.parametrize("case", sorted(INITS))
def test_em_matches_sklearn_from_the_same_initialisation(case):
    """Same data, same start, same stopping rule (|change of mean log-likelihood| < tol): the
    iteration counts agree and the parameters differ only by float32 rounding (~1e-6), far below
    1e-4; sklearn runs in float64."""
    X, init = INITS[case]
    sk = _sklearn_from(init, X, tol=1e-5)
    fit = gmm.fit_em(init, X, tol=1e-5)
    assert bool(fit.converged)
    assert int(fit.iterations) == sk.n_iter_
    np.testing.assert_allclose(fit.weights, sk.weights_, atol=1e-4)
    np.testing.assert_allclose(fit.means, sk.means_, atol=1e-4)
    np.testing.assert_allclose(fit.covs, sk.covariances_, atol=1e-4)
    np.testing.assert_allclose(float(fit.loglik), sk.score(X.astype(np.float64)), atol=1e-5)


def test_em_from_kmeans_plus_plus_finds_sklearns_optimum():
    """Different random seeding, same well-separated optimum: components match after sorting."""
    X, _ = INITS["2d-k2"]
    fit = gmm.fit_em(jax.random.key(3), X, 2, tol=1e-6)
    sk = GaussianMixture(2, covariance_type="full", tol=1e-6, max_iter=2000, random_state=0).fit(X.astype(np.float64))
    mine, theirs = np.argsort(np.asarray(fit.means)[:, 0]), np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(np.asarray(fit.means)[mine], sk.means_[theirs], atol=2e-3)
    np.testing.assert_allclose(np.asarray(fit.covs)[mine], sk.covariances_[theirs], atol=2e-3)
    np.testing.assert_allclose(np.asarray(fit.weights)[mine], sk.weights_[theirs], atol=2e-3)


def test_em_log_likelihood_never_decreases_and_converged_fits_stop():
    X, init = INITS["1d-k3"]
    fit = gmm.fit_em(init, X, tol=0.0, max_iter=60, history=True)
    hist = np.asarray(fit.history)
    assert np.all(np.isfinite(hist)) and int(fit.iterations) == 60 and not bool(fit.converged)
    # EM's monotonicity, up to float32 rounding of a mean of ~-2 (eps * |ll| ~ 3e-7).
    assert np.diff(hist).min() > -2e-6
    # Under vmap, a chain that converged early is frozen while the other keeps iterating: each
    # chain's result equals its own unbatched fit.
    X2 = X * 1.3 + 0.2
    singles = [gmm.fit_em(init, x, tol=1e-5) for x in (X, X2)]
    batched = jax.vmap(lambda x: gmm.fit_em(init, x, tol=1e-5))(jnp.stack([X, X2]))
    assert int(singles[0].iterations) != int(singles[1].iterations)
    for i, single in enumerate(singles):
        assert int(batched.iterations[i]) == int(single.iterations)
        # Batched and single fits reduce in different orders: equal up to float32 rounding
        # accumulated over the EM iterations (rtol 1e-5 is ~80 ulps; a chain that kept iterating
        # after convergence moves its means by ~1e-4).
        np.testing.assert_allclose(batched.means[i], single.means, rtol=1e-5, atol=1e-6)


def test_mask_equals_dropping_points():
    X, init = INITS["2d-k2"]
    padded = np.concatenate([X, np.full((50, 2), 7.0, np.float32)])
    mask = np.arange(len(padded)) < len(X)
    a = gmm.fit_em(init, X, tol=1e-5)
    b = gmm.fit_em(init, padded, tol=1e-5, mask=mask)
    assert int(a.iterations) == int(b.iterations)
    np.testing.assert_allclose(a.means, b.means, atol=1e-5)
    np.testing.assert_allclose(a.covs, b.covs, atol=1e-5)


def test_sampling_moments():
    g = gmm.GMM(jnp.array([0.3, 0.7]), jnp.array([[0.0, 1.0], [3.0, -1.0]]),
                jnp.array([[[1.0, 0.5], [0.5, 2.0]], [[0.2, 0.0], [0.0, 0.1]]]))
    x = np.asarray(gmm.sample(jax.random.key(0), g, 40000), np.float64)
    w, m, c = (np.asarray(a, np.float64) for a in g)
    mean = w @ m
    cov = sum(wk * (ck + np.outer(mk, mk)) for wk, mk, ck in zip(w, m, c)) - np.outer(mean, mean)
    se = np.sqrt(np.diag(cov) / len(x))
    assert np.all(np.abs(x.mean(0) - mean) < 4 * se)
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.05, atol=0.02)


def _mix_pdf_1d(g, x):
    w, m, c = (np.asarray(a, np.float64) for a in g)
    return sum(wk * norm.pdf(x, mk[0], np.sqrt(ck[0, 0])) for wk, mk, ck in zip(w, m, c))


def _mix_pdf_2d(g, x, y):
    w, m, c = (np.asarray(a, np.float64) for a in g)
    xy = np.stack([x, y], axis=-1)
    return sum(wk * multivariate_normal(mk, ck).pdf(xy) for wk, mk, ck in zip(w, m, c))


def test_l2_closed_form_matches_quadrature_1d():
    f = gmm.GMM(jnp.array([0.4, 0.6]), jnp.array([[-1.0], [2.0]]), jnp.array([[[0.5]], [[1.5]]]))
    g = gmm.GMM(jnp.array([1.0]), jnp.array([[0.3]]), jnp.array([[[0.05]]]))
    for a, b in ((f, g), (f, f), (g, f)):
        exact, err = integrate.quad(lambda x: (_mix_pdf_1d(a, x) - _mix_pdf_1d(b, x)) ** 2, -np.inf, np.inf,
                                    epsabs=1e-12, epsrel=1e-10, limit=200)
        # float32 closed form: relative 1e-5 of the largest term (int g^2 ~ 1.3).
        assert abs(float(gmm.l2_squared(a, b)) - exact) < 1e-5 * max(exact, 1.0) + err


def test_l2_closed_form_matches_quadrature_2d():
    f = gmm.GMM(jnp.array([0.5, 0.5]), jnp.array([[-1.0, 0.0], [1.5, 0.5]]),
                jnp.array([[[1.0, 0.3], [0.3, 0.8]], [[0.5, -0.2], [-0.2, 0.7]]]))
    g = gmm.GMM(jnp.array([0.7, 0.3]), jnp.array([[0.0, 0.0], [0.5, 1.0]]),
                jnp.array([[[0.3, 0.0], [0.0, 0.3]], [[1.0, 0.0], [0.0, 2.0]]]))
    # Composite Simpson on a 1201 x 1201 grid over [-9, 9]^2: the integrand is smooth and its mass
    # outside the box is < 1e-12, so the quadrature error is far below the float32 tolerance.
    grid = np.linspace(-9, 9, 1201)
    xx, yy = np.meshgrid(grid, grid, indexing="ij")
    diff = _mix_pdf_2d(f, xx, yy) - _mix_pdf_2d(g, xx, yy)
    exact = integrate.simpson(integrate.simpson(diff**2, x=grid, axis=1), x=grid)
    assert exact > 0.01
    np.testing.assert_allclose(float(gmm.l2_squared(f, g)), exact, rtol=1e-4)
    assert float(gmm.l2_squared(f, f)) == pytest.approx(0.0, abs=1e-6)
    assert float(gmm.l2_squared(f, g)) == pytest.approx(float(gmm.l2_squared(g, f)), rel=1e-6)


# ---- the recursion ------------------------------------------------------------------------------

SMALL = dict(samples=120, generations=3, seed=5, heldout=200, max_iter=300)


@pytest.fixture(scope="module")
def run3():
    return gmm.simulate("blob", chains=3, progress=False, **SMALL)


def test_recursion_shapes_and_invariants(run3):
    r = run3
    assert r.family == "gmm" and r.generations == 3 and r.chains == 3
    for name in ("l2", "loglik", "real_loglik", "iterations", "converged", "weight_0", "weight_1", "std_0", "std_1"):
        assert r.metrics[name].shape == (4, 3), name
        assert np.all(np.isfinite(r.metrics[name])), name
    assert np.all(r.metrics["l2"][0] == 0) and np.all(r.metrics["l2"][1:] > 0)
    np.testing.assert_allclose(r.metrics["weight_0"] + r.metrics["weight_1"], 1.0, atol=1e-5)
    assert np.all(r.metrics["weight_0"] >= r.metrics["weight_1"])
    assert np.all(r.metrics["iterations"] >= 1) and np.all(r.metrics["converged"] == 1)
    assert r.trajectory["covs"].shape == (4, 3, 2, 2, 2) and r.final["means"].shape == (3, 2, 2)
    np.testing.assert_allclose(r.trajectory["means"][-1], r.final["means"], atol=0)
    # the trajectory's generation-0 mixture is the one the L2 metric measures from
    t = r.trajectory
    first = gmm.GMM(*(t[k][0, 0] for k in ("weights", "means", "covs")))
    last = gmm.GMM(*(t[k][2, 0] for k in ("weights", "means", "covs")))
    assert float(gmm.l2_squared(first, last)) == pytest.approx(float(r.metrics["l2"][2, 0]), rel=1e-4)


def test_recursion_is_addressable_by_chain_and_deterministic(run3):
    """Chain c's path is the same with 3 or 5 chains, so the same seed gives the same numbers;
    chains differ from each other."""
    r5 = gmm.simulate("blob", chains=5, progress=False, **SMALL)
    for name, values in run3.metrics.items():
        np.testing.assert_allclose(r5.metrics[name][:, :3], values, rtol=1e-5, atol=1e-7, err_msg=name)
    assert len(np.unique(r5.metrics["l2"][1])) == 5


@pytest.mark.slow
def test_async_scheduler_equals_sync_scheduler():
    """The asynchronous scheduler runs the same arithmetic as engine.run_generations. With tol=0
    every fit runs exactly max_iter EM iterations, so no convergence test can flip on rounding and
    the two agree to float32 rounding."""
    kw = dict(samples=100, generations=3, chains=3, seed=2, heldout=100, tol=0.0, max_iter=25, progress=False)
    a = gmm.simulate("two-gaussians", scheduler="async", **kw)
    s = gmm.simulate("two-gaussians", scheduler="sync", **kw)
    for name in a.metrics:
        np.testing.assert_allclose(a.metrics[name], s.metrics[name], rtol=1e-3, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_cli_writes_a_run_with_real_data_mixing(tmp_path):
    out = tmp_path / "run"
    rc = cli.main(["gmm", "--preset", "two-gaussians", "--samples", "80", "--generations", "2", "--chains", "2",
                   "--gamma", "0.1", "--heldout", "100", "--max-iter", "200", "--out", str(out), "--no-progress"])
    assert rc == 0
    for name in ("config.json", "metrics.npz", "summary.csv", "final.npz", "trajectory.npz",
                 "gmm_scatter.png", "gmm_l2.png", "gmm_std.png"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["process"]["gamma"] == 0.1 and config["data"] == "two-gaussians"
    metrics = np.load(out / "metrics.npz")
    assert metrics["l2"].shape == (3, 2)
    # a second run into the same directory is refused and leaves the first intact
    before = (out / "metrics.npz").read_bytes()
    assert cli.main(["gmm", "--generations", "1", "--chains", "1", "--out", str(out), "--no-progress"]) == 2
    assert (out / "metrics.npz").read_bytes() == before


@pytest.mark.slow
def test_cli_runs_on_a_data_file_with_a_schedule(tmp_path):
    points = np.concatenate([np.random.default_rng(0).normal(size=(150, 2)) + s for s in (-2.0, 2.0)])
    np.save(tmp_path / "points.npy", points)
    out = tmp_path / "run"
    rc = cli.main(["gmm", "--data", str(tmp_path / "points.npy"), "--schedule", "linear", "--samples", "100",
                   "--generations", "2", "--chains", "2", "--out", str(out), "--no-progress"])
    assert rc == 0 and (out / "gmm_scatter.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["samples"] == 300 and config["heldout_source"] == "data"
    assert config["process"]["schedule"]["kind"] == "linear"
    np.testing.assert_allclose(np.load(out / "trajectory.npz")["real_data"], points)


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(components=0), "components"),
    (dict(components=2.5), "components"),
    (dict(samples=8), "free parameters"),
    (dict(reg_covar=0.0), "reg_covar"),
    (dict(reg_covar=-1e-3), "reg_covar"),
    (dict(tol=-1.0), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(workflow="accumulate"), "replace workflow"),
    (dict(beta=0.2), "beta"),
    (dict(gamma=1.5), "mixing weight"),
    (dict(data="three-blobs"), "preset"),
    (dict(data=np.array([[0.0, np.nan]] * 20)), "NaN"),
    (dict(init="random"), "init"),
    (dict(scheduler="fast"), "scheduler"),
    (dict(schedule="list:100,4"), "free parameters"),
])
def test_bad_input_is_one_clear_error(kwargs, match):
    base = dict(data="blob", generations=2, chains=1, progress=False)
    with pytest.raises(InputError, match=match):
        gmm.simulate(**{**base, **kwargs})


def test_fit_em_bad_input():
    X, init = INITS["2d-k2"]
    with pytest.raises(InputError, match="free parameters"):
        gmm.fit_em(jax.random.key(0), X[:5], 2)
    with pytest.raises(InputError, match="reg_covar"):
        gmm.fit_em(init, X, reg_covar=0)
    with pytest.raises(InputError, match="do not match"):
        gmm.fit_em(init, X[:, :1])
    with pytest.raises(InputError, match="NaN"):
        gmm.fit_em(init, np.where(np.arange(len(X))[:, None] == 3, np.nan, X))


@pytest.mark.parametrize("argv, match", [
    (["--components", "0"], "components"),
    (["--samples", "5"], "free parameters"),
    (["--reg-covar", "0"], "reg_covar"),
    (["--workflow", "accumulate"], "replace workflow"),
    (["--data", "/nonexistent/points.npy"], "does not exist"),
])
def test_cli_bad_input_exit_code_2(argv, match, tmp_path, capsys):
    rc = cli.main(["gmm", *argv, "--generations", "1", "--chains", "1", "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cli_reads_a_data_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,x\n")
    assert cli.main(["gmm", "--data", str(bad), "--generations", "1", "--out", str(tmp_path / "r")]) == 2
