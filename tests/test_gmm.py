"""GMM family: EM against scikit-learn, the closed-form L2 distance against quadrature, EM
invariants, the recursion's shapes, the two drivers (bit for bit), chain addressability, Ctrl-C,
the workflows against a numpy reference and against theory, and bad input."""

from __future__ import annotations

import functools
import importlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal, norm
from sklearn.mixture import GaussianMixture

from collapse_jax import InputError, Process, cli, gmm
from collapse_jax.core import async_engine, engine, simulation, stats, streams
from collapse_jax.core.kernel import Params
from collapse_jax.core.progress import Progress


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

SMALL = dict(samples=120, generations=3, seed=5, heldout=200, max_iter=300, progress=False)


@pytest.fixture(scope="module")
def run3():
    return gmm.simulate("blob", chains=3, **SMALL)


def _assert_same_run(a, b):
    """Two results with the same numbers, bit for bit."""
    assert a.metrics.keys() == b.metrics.keys() and a.trajectory.keys() == b.trajectory.keys()
    np.testing.assert_array_equal(a.rows, b.rows)
    for part in ("metrics", "trajectory", "final"):
        for name, values in getattr(a, part).items():
            np.testing.assert_array_equal(values, getattr(b, part)[name], err_msg=f"{part}[{name}]")


def test_recursion_shapes_and_invariants(run3):
    r = run3
    assert r.family == "gmm" and r.generations == 3 and r.chains == 3 and r.config["scheduler"] == "async"
    for name in ("l2", "loglik", "real_loglik", "iterations", "converged", "weight_0", "weight_1", "std_0", "std_1"):
        assert r.metrics[name].shape == (4, 3), name
        assert np.all(np.isfinite(r.metrics[name])), name
    assert np.all(r.metrics["l2"][0] == 0) and np.all(r.metrics["l2"][1:] > 0)
    np.testing.assert_allclose(r.metrics["weight_0"] + r.metrics["weight_1"], 1.0, atol=1e-5)
    assert np.all(r.metrics["weight_0"] >= r.metrics["weight_1"])
    assert np.all(r.metrics["iterations"] >= 1) and np.all(r.metrics["converged"] == 1)
    assert r.trajectory["covs"].shape == (4, 3, 2, 2, 2) and r.final["means"].shape == (3, 2, 2)
    np.testing.assert_array_equal(r.trajectory["generation"], [0, 1, 2, 3])
    np.testing.assert_array_equal(r.trajectory["means"][-1], r.final["means"])
    # the trajectory's generation-0 mixture is the one the L2 metric measures from
    t = r.trajectory
    first = gmm.GMM(*(t[k][0, 0] for k in ("weights", "means", "covs")))
    last = gmm.GMM(*(t[k][2, 0] for k in ("weights", "means", "covs")))
    assert float(gmm.l2_squared(first, last)) == pytest.approx(float(r.metrics["l2"][2, 0]), rel=1e-4)
    # the training log-likelihood is the final mixture's, as sklearn's score
    X = gmm.snapshot_samples(r, 2)
    assert np.isfinite(float(gmm.loglik(last, X)))


def test_async_and_sync_drivers_agree_bit_for_bit(run3):
    """Both drivers run the kernel's begin, ticks and end with the same keys and inputs: every
    number of every chain is the same (the chains' fits take different numbers of iterations)."""
    sync = gmm.simulate("blob", chains=3, scheduler="sync", **SMALL)
    assert sync.config["scheduler"] == "sync"
    assert len(np.unique(run3.metrics["iterations"][1:])) > 1
    _assert_same_run(run3, sync)


def test_chains_are_addressable_and_deterministic(run3):
    """Chain c's path depends on (seed, c) alone: a 5-chain run's first 3 columns are the 3-chain
    run, and first_chain=2 gives its last 3 exactly; chains differ from each other."""
    r5 = gmm.simulate("blob", chains=5, **SMALL)
    tail = gmm.simulate("blob", chains=3, first_chain=2, **SMALL)
    for name, values in r5.metrics.items():
        np.testing.assert_array_equal(values[:, :3], run3.metrics[name], err_msg=name)
        np.testing.assert_array_equal(values[:, 2:], tail.metrics[name], err_msg=name)
    np.testing.assert_array_equal(r5.final["covs"][2:], tail.final["covs"])
    assert len(np.unique(r5.metrics["l2"][1])) == 5


def _driver_run(driver, **process):
    """The kernel's Output under ``driver`` for a configuration that uses every branch: gamma as a
    schedule, accumulate-subsample, warm starts, a schedule of sizes, sparse rows and snapshots."""
    prepared = gmm.prepare("two-gaussians", process=Process.resolve(**process), heldout=100, max_iter=200,
                           init="warm", seed=3)
    return simulation.simulate("gmm", prepared, lambda out: out, chains=5, seed=3, metrics_every=2,
                               record_every=2, record_chains=3, progress=False, driver=driver)


@pytest.mark.slow
def test_async_driver_with_a_small_window_equals_the_sync_driver():
    """Chains at most 4 generations apart (they wait for the window), 2 chains serviced per round,
    3 ticks per round: the same Output as engine.run, bit for bit."""
    process = dict(samples=60, generations=7, schedule="list:60,40,80,50,60,45,70", gamma="linear:0.5,0",
                   workflow="accumulate-subsample")
    sync = _driver_run(engine.run, **process)
    tight = functools.partial(async_engine.run_async, half_window=1, batch=2, ticks=3, rounds=2)
    out = _driver_run(tight, **process)
    np.testing.assert_array_equal(out.rows, [0, 2, 4, 6, 7])
    np.testing.assert_array_equal(out.rows, sync.rows)
    np.testing.assert_array_equal(out.snapshot_rows, sync.snapshot_rows)
    assert out.generations_done == sync.generations_done == 7
    for part in ("metrics", "trajectory"):
        for name, values in getattr(sync, part).items():
            np.testing.assert_array_equal(getattr(out, part)[name], values, err_msg=f"{part}[{name}]")
    for a, b in zip(jax.tree.leaves(out.state), jax.tree.leaves(sync.state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_ctrl_c_keeps_the_generations_every_chain_completed(tmp_path, monkeypatch):
    """Ctrl-C between two calls of the asynchronous driver: the partial result holds the rows every
    chain has completed, equal to the uninterrupted run's; the CLI saves it as a partial run."""
    calls = {"n": 0}

    class StopAtTheFourthCall(Progress):
        def update(self, n):
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt

    # tol = 0: every EM runs 25 iterations, so a call of 3 rounds (24 ticks) completes less than a
    # generation per chain and the fourth call comes after 2 or 3 generations of 6.
    simulate_module = importlib.import_module("collapse_jax.gmm.simulate")
    monkeypatch.setattr(async_engine, "Progress", StopAtTheFourthCall)
    monkeypatch.setitem(simulate_module.DRIVERS, "async", functools.partial(async_engine.run_async, rounds=3))
    kw = dict(SMALL, generations=6, tol=0.0, max_iter=25)
    with pytest.raises(simulation.Interrupted) as stop:
        gmm.simulate("blob", chains=3, **kw)
    partial = stop.value.result
    done = partial.config["generations_done"]
    assert 0 < done < 6 and not partial.complete
    np.testing.assert_array_equal(partial.rows, np.arange(done + 1))
    calls["n"] = -1000  # no interruption
    full = gmm.simulate("blob", chains=3, **kw)
    assert full.complete
    for name, values in partial.metrics.items():
        np.testing.assert_array_equal(values, full.metrics[name][: done + 1], err_msg=name)

    calls["n"] = 0
    out = tmp_path / "run"
    rc = cli.main(["gmm", "--samples", "120", "--generations", "6", "--chains", "3", "--seed", "5",
                   "--heldout", "200", "--tol", "0", "--max-iter", "25", "--out", str(out), "--no-progress"])
    assert rc == 130
    config = json.loads((out / "config.json").read_text())
    assert 0 < config["generations_done"] < 6
    assert np.load(out / "metrics.npz")["l2"].shape == (config["generations_done"] + 1, 3)


# ---- workflows and mixing schedules ----------------------------------------------------------------

TINY = np.array([[0.1], [1.3], [-0.7], [2.2]])  # 4 real points in 1-D, shared by every chain


def _drive(prepared, chains, seed):
    """Run the kernel generation by generation, returning the state before each generation and the
    work (the points each fit sees) of each generation."""
    kernel = prepared.kernel
    params = Params(dict(prepared.params, column=np.int32(0)), {})
    keys = streams.chain_keys(seed, chains)
    begin = jax.jit(lambda k, s, x: kernel.begin(k, s, params, x))
    finish = jax.jit(lambda w, s: kernel.end(kernel.iterate(w, params), s, params))
    state = jax.jit(lambda k: kernel.start(k, params))(keys)
    states, works = [], []
    for t in range(prepared.process.generations):
        x = {k: jnp.asarray(v[:1]) for k, v in prepared.table(t, t + 1).items()}
        x.update(t=jnp.int32(t))
        work = begin(streams.generation_keys(keys, x["t"]), state, x)
        states.append(state)
        works.append(work)
        state = finish(work, state)
    return states, works, state


@pytest.mark.parametrize("workflow", ["replace", "accumulate", "accumulate-subsample"])
def test_the_points_each_fit_sees_match_a_numpy_reference(workflow):
    """A tiny case (4 real points, sizes 3, 5, 2, gamma 1, 0, 0.5 by generation) against a slow
    reference that keeps each chain's pool as a Python list: generation t's new points are the
    first M_t of its draws (real points where its gamma_t says so); replace fits them, accumulate
    the real data and every new point so far, in order, and accumulate-subsample the M_t pool points
    with the smallest of the subsample stream's uniforms. The K = 1 fit is the masked points' MLE."""
    chains, seed, sizes, gammas = 3, 11, [3, 5, 2], [1.0, 0.0, 0.5]
    process = Process.resolve(samples=3, generations=3, schedule="list:3,5,2", gamma="list:1,0,0.5",
                              workflow=workflow)
    prepared = gmm.prepare(TINY, process=process, components=1)
    kernel = prepared.kernel
    draw = kernel.draw_points
    assert draw == 5 and kernel.pool_points == ({"replace": 0}.get(workflow, 4 + 10 + 5))
    states, works, final = _drive(prepared, chains, seed)
    keys = streams.chain_keys(seed, chains)
    real = TINY[:, 0]
    for c in range(chains):
        pool = list(real)
        for t, (m, gamma) in enumerate(zip(sizes, gammas)):
            key = jax.random.fold_in(keys[c], t)
            k_sample, k_mix, k_pick, _ = jax.random.split(key, 4)
            model = gmm.GMM(*(np.asarray(a[c]) for a in states[t].model))
            drawn = np.asarray(gmm.sample(k_sample, model, draw))[:, 0]
            from_real = np.asarray(jax.random.uniform(k_mix, (draw,))) < gamma
            pick = np.asarray(jax.random.randint(k_pick, (draw,), 0, 4))
            new = np.where(from_real, real[pick], drawn)[:m]
            if gamma == 1.0:
                assert np.all(np.isin(new, real))
            elif gamma == 0.0:
                assert not np.any(np.isin(new, real))
            pool += list(new)
            if workflow == "replace":
                expected = new
            elif workflow == "accumulate":
                expected = np.asarray(pool)
            else:
                u = np.asarray(jax.random.uniform(streams.stream(key, "subsample"), (kernel.pool_points,)))
                expected = np.asarray(pool)[np.argsort(u[: len(pool)], kind="stable")[:m]]
            work = works[t]
            n = int(work.n[c])
            assert n == len(expected), (c, t)
            # the same draws, computed here one chain at a time outside jit: equal to float32 rounding
            np.testing.assert_allclose(np.asarray(work.X[c, 0, :n]), expected.astype(np.float32), rtol=1e-6,
                                       atol=1e-7)
            fitted = (final if t == 2 else states[t + 1]).model
            np.testing.assert_allclose(float(fitted.means[c, 0, 0]), expected.mean(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(float(fitted.covs[c, 0, 0, 0]), expected.var() + 1e-6, rtol=2e-5, atol=1e-6)


def test_gamma_schedule_reaches_the_kernel():
    """gamma given per generation arrives as this generation's value in the kernel's inputs."""
    process = Process.resolve(samples=3, generations=4, gamma="linear:0.8,0.2")
    prepared = gmm.prepare(TINY, process=process, components=1)
    np.testing.assert_allclose(prepared.table(0, 4)["gamma"], [0.8, 0.6, 0.4, 0.2])
    assert prepared.kernel.uses_gamma


def _spread(result):
    return result.metrics["std_0"] ** 2  # K = 1: tr(Sigma) / d


@pytest.mark.slow
def test_replace_collapses_and_accumulate_does_not_as_theory_says():
    """K = 1 is the MLE Gaussian fit (THEORY.md §3.2–3.3), with the first fit on M real points.
    Row r is fit r + 1 of the recursion, so E tr(Sigma)/d = prod_{k<=r+1} (1 - 1/M) under replace
    and prod_{k<=r+1} (1 - 1/(M k^2)) under accumulate (no collapse); each mean within 4 standard
    errors of its run, and the two far apart."""
    M, G, chains = 20, 8, 600
    kw = dict(samples=M, generations=G, chains=chains, seed=7, components=1, heldout=50, progress=False)
    replace = gmm.simulate("blob", workflow="replace", **kw)
    accumulate = gmm.simulate("blob", workflow="accumulate", **kw)
    k = np.arange(1, G + 2)
    predicted = {"replace": np.cumprod(np.full(G + 1, 1 - 1 / M)), "accumulate": np.cumprod(1 - 1 / (M * k**2))}
    for name, result in (("replace", replace), ("accumulate", accumulate)):
        mean, se = stats.mean_and_se(_spread(result))
        z = (mean - predicted[name]) / se
        assert np.all(np.abs(z) < 4), (name, z)
    mean_r, se_r = stats.mean_and_se(_spread(replace)[-1])
    mean_a, se_a = stats.mean_and_se(_spread(accumulate)[-1])
    assert mean_a - mean_r > 6 * np.hypot(se_r, se_a)


@pytest.mark.slow
def test_accumulate_keeps_the_component_spread_that_replace_loses():
    """K = 2 on the notebook's blob, 20 generations of M = 50: the log-ratio of the heavier
    component's spread to its generation-0 value falls under replace (about -0.8) and stays near 0
    under accumulate; accumulate-subsample degrades far less than replace (Kazdan et al.: slowly,
    not explosively). Each difference beyond 4 combined standard errors of the runs. (K = 1, where
    accumulate has a closed form, is checked exactly above; K = 2 has none.)"""
    kw = dict(samples=50, generations=20, chains=48, seed=2, tol=1e-3, heldout=50, progress=False)
    ratio = {}
    for workflow in ("replace", "accumulate", "accumulate-subsample"):
        r = gmm.simulate("blob", workflow=workflow, **kw)
        ratio[workflow] = np.log(r.metrics["std_0"][-1] / r.metrics["std_0"][0])
    mean = {w: stats.mean_and_se(v) for w, v in ratio.items()}

    def apart(lo, hi):
        return mean[hi][0] - mean[lo][0] > 4 * np.hypot(mean[lo][1], mean[hi][1])

    assert apart("replace", "accumulate")
    assert apart("replace", "accumulate-subsample")


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
def test_cli_runs_on_a_data_file_with_a_schedule_and_accumulate(tmp_path):
    points = np.concatenate([np.random.default_rng(0).normal(size=(150, 2)) + s for s in (-2.0, 2.0)])
    np.save(tmp_path / "points.npy", points)
    out = tmp_path / "run"
    rc = cli.main(["gmm", "--data", str(tmp_path / "points.npy"), "--schedule", "linear", "--samples", "100",
                   "--workflow", "accumulate", "--gamma", "linear:0.2,0", "--generations", "2", "--chains", "2",
                   "--out", str(out), "--no-progress"])
    assert rc == 0 and (out / "gmm_scatter.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["real_samples"] == 300 and config["heldout_source"] == "data"
    assert config["process"]["schedule"]["kind"] == "linear" and config["process"]["workflow"] == "accumulate"
    assert config["process"]["gamma"] == "linear:0.2,0"
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
    (dict(workflow="pool"), "workflow"),
    (dict(beta=0.2), "beta > 0 is not supported"),
    (dict(gamma=1.5), "mixing weight"),
    (dict(gamma="linear:0.5,1.5"), "mixing weight"),
    (dict(data="three-blobs"), "preset"),
    (dict(data=np.array([[0.0, np.nan]] * 20)), "NaN"),
    (dict(data=np.zeros((30, 2)), real_samples=10), "real_samples"),
    (dict(init="random"), "init"),
    (dict(scheduler="fast"), "scheduler"),
    (dict(schedule="list:100,4"), "free parameters"),
    (dict(real_samples=5), "free parameters"),
    (dict(process=Process.resolve(samples=100, generations=2), samples=100), "not both"),
])
def test_bad_input_is_one_clear_error(kwargs, match):
    base = dict(data="blob", generations=2, chains=1, progress=False)
    if "process" in kwargs:
        base.pop("generations")
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
    (["--beta", "0.1"], "beta > 0"),
    (["--scheduler", "fast"], "scheduler"),
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
