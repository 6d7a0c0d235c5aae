"""Regression family: exact paths against a slow numpy reference, the closed forms' reductions,
bad input, addressability, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from collapse_jax import InputError, Process, cli, regression


def run(**kw):
    kw = {"dim": 3, "samples": 8, "generations": 10, "chains": 64, "seed": 0, "progress": False, **kw}
    return regression.simulate(**kw)


def _numpy_reference(X, w, ridge, workflow, generations):
    """Noise-free ridge on a fixed design, step by step in float64: the path is deterministic."""
    W, d = X.T @ X, X.shape[1]
    w_hat, gram, moment, out = w.copy(), np.zeros((d, d)), np.zeros(d), [0.0]
    for _ in range(generations):
        y = X @ w_hat
        if workflow == "replace":
            gram, moment = W, X.T @ y
        else:
            gram, moment = gram + W, moment + X.T @ y
        w_hat = np.linalg.solve(gram + ridge * np.eye(d), moment)
        out.append(float(np.sum((w_hat - w) ** 2)))
    return np.asarray(out)


@pytest.mark.parametrize("workflow", ["replace", "accumulate"])
def test_noise_free_ridge_path_matches_numpy(workflow):
    r = run(noise=0.0, ridge=0.7, design="fixed", workflow=workflow, dtype="float64", chains=4)
    X, w = regression.shared_draws(0, 8, 3)
    slow = _numpy_reference(X, w, 0.7, workflow, 10)
    for c in range(4):
        np.testing.assert_allclose(r.metrics["test_error"][:, c], slow, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.predictions["test_error"], slow, rtol=1e-9, atol=1e-12)  # no noise: exact


def test_least_squares_without_noise_recovers_the_truth():
    for workflow in ("replace", "accumulate", "accumulate-subsample"):
        r = run(noise=0.0, workflow=workflow, gamma=0.3, dtype="float64")
        assert np.max(r.metrics["test_error"]) < 1e-18, workflow
        np.testing.assert_allclose(r.final["w_hat"], np.broadcast_to(r.config["w_star"], (64, 3)), atol=1e-9)


def test_closed_forms_reduce_to_the_papers():
    d, T, n = 4, 15, 12
    proc = Process.resolve(samples=T, generations=n)
    sig = np.full(n, 0.6)
    np.testing.assert_allclose(regression.fresh_design(proc, d, sig),
                               regression.replace_linear(np.arange(n + 1), d, T, 0.6))
    X, w = regression.shared_draws(5, T, d)
    tr = np.trace(np.linalg.inv(X.T @ X))
    sq, bias = regression.fixed_design(proc, X, w, 0.0, sig)
    np.testing.assert_allclose(sq, 0.36 * tr * np.arange(n + 1), rtol=1e-10)
    acc = Process.resolve(samples=T, generations=n, workflow="accumulate")
    sq, _ = regression.fixed_design(acc, X, w, 0.0, sig)
    harmonic2 = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1) ** 2)])
    np.testing.assert_allclose(sq, 0.36 * tr * harmonic2, rtol=1e-10)
    assert np.all(bias == 0)
    # γ = 1 every generation: each fit sees real labels only, so the error never accumulates
    mixed = Process.resolve(samples=T, generations=n, gamma=1.0)
    np.testing.assert_allclose(regression.fresh_design(mixed, d, sig)[1:], 0.36 * d / (T - d - 1))


def test_fixed_design_one_step_law():
    """e_1 ~ N(0, σ² (XᵀX)⁻¹) given the design: its covariance across 20000 chains."""
    r = run(design="fixed", generations=1, chains=20000, noise=0.5, record_every=1)
    e = r.trajectory["err"][-1].astype(np.float64)
    X, _ = regression.shared_draws(0, 8, 3)
    exact = 0.25 * np.linalg.inv(X.T @ X)
    se = np.sqrt((exact.diagonal()[:, None] * exact.diagonal()[None, :] + exact**2) / e.shape[0])
    assert np.all(np.abs(np.cov(e.T) - exact) < 5 * se)


def test_shapes_and_addressability():
    r = run(workflow="accumulate-subsample", gamma=0.2, chains=32)
    assert r.metrics["test_error"].shape == (11, 32) and r.final["w_hat"].shape == (32, 3)
    assert np.all(r.metrics["test_error"][0] == 0)
    part = run(workflow="accumulate-subsample", gamma=0.2, chains=5, first_chain=20)
    np.testing.assert_allclose(part.metrics["test_error"], r.metrics["test_error"][:, 20:25], rtol=1e-5)
    np.testing.assert_array_equal(run(workflow="accumulate-subsample", gamma=0.2, chains=32).metrics["test_error"],
                                  r.metrics["test_error"])


def test_schedules_and_noise_schedules():
    r = run(schedule="list:10,12,20", generations=3, noise="list:1,0.5,0.25", dim=4)
    assert r.config["sizes"] == [10, 12, 20] and r.config["noise"] == [1.0, 0.5, 0.25]
    expected = np.cumsum([1.0 * 4 / 5, 0.25 * 4 / 7, 0.0625 * 4 / 15])
    np.testing.assert_allclose(r.predictions["test_error"][1:], expected)


@pytest.mark.parametrize("kw,message", [
    ({"samples": 2}, "needs at least d = 3 rows"),
    ({"dim": 0}, "dim must be >= 1"),
    ({"w_star": [1.0, 2.0], "dim": 3}, "conflicts with w_star"),
    ({"noise": -1.0}, "noise must be finite and >= 0"),
    ({"noise": "list:1,1"}, "2 values but 10 generations"),
    ({"ridge": -0.1}, "ridge must be >= 0"),
    ({"design": "orthogonal"}, "unknown design"),
    ({"design": "fixed", "schedule": "linear"}, "needs a constant schedule"),
    ({"beta": 0.3}, "beta > 0 is not supported"),
    ({"chains": 10**6, "samples": 1000, "workflow": "accumulate-subsample"}, "would hold"),
])
def test_bad_input(kw, message):
    with pytest.raises(InputError, match=message):
        run(**kw)


def test_small_samples_with_ridge_are_allowed():
    r = run(samples=2, ridge=0.5, generations=3, chains=8)
    assert np.all(np.isfinite(r.metrics["test_error"]))
    assert "test_error" not in r.predictions  # fresh-design ridge: simulation only


def test_cli_exit_codes_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["regression", "--dim", "3", "--samples", "9", "--generations", "6", "--chains", "100",
                     "--workflow", "accumulate", "--out", str(out), "--no-progress"]) == 0
    assert {"summary.csv", "metrics.npz", "test_error.png"} <= {p.name for p in out.iterdir()}
    assert cli.main(["regression", "--dim", "5", "--samples", "3", "--out", str(tmp_path / "bad"),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "least squares needs at least d = 5 rows" in err and "Traceback" not in err
