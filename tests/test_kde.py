"""KDE family: laws against a slow numpy reference, the closed forms' reductions, bad input,
addressability, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from collapse_jax import InputError, Process, cli, kde


def run(mean0=0.0, cov0=1.0, **kw):
    kw = {"bandwidth": 0.4, "samples": 10, "generations": 8, "chains": 64, "seed": 0, "progress": False, **kw}
    return kde.simulate(mean0, cov0, **kw)


def _numpy_chains(chains, M, h, generations, rng):
    """Replace, 1-D, fixed h, D_0 = N(0, 1): the KDE variance after ``generations`` refits, one
    explicit loop per chain (scikit-learn's sample(): resample a point, add h · N(0, 1))."""
    out = np.empty(chains)
    for c in range(chains):
        x = rng.standard_normal(M)
        for _ in range(generations - 1):
            x = x[rng.integers(0, M, M)] + h * rng.standard_normal(M)
        out[c] = x.var() + h * h
    return out


def test_law_matches_slow_numpy_reference():
    r = run(samples=6, generations=3, chains=4000, bandwidth=0.7)
    slow = _numpy_chains(4000, 6, 0.7, 3, np.random.default_rng(0))
    assert stats.ks_2samp(r.metrics["variance"][3], slow).pvalue > 1e-3
    one = r.metrics["variance"][1].astype(np.float64) - 0.49  # the first fit: s² of 6 normals, M s² ~ χ²_5
    assert stats.kstest(6 * one, stats.chi2(5).cdf).pvalue > 1e-3


def test_closed_forms_reduce_to_the_fixed_bandwidth_recursion():
    proc = Process.resolve(samples=12, generations=30)
    var, mean_sq = kde.moments(proc, "fixed", 0.3, 2, 3.0)
    np.testing.assert_allclose(var, kde.fixed_bandwidth_replace(3.0, 0.3, 12, np.arange(31), 2))
    np.testing.assert_allclose(mean_sq, np.concatenate([[0.0], np.cumsum(var[:-1] / 12)]))
    # scikit-learn's Scott rule under replace is a fixed bandwidth M^(-1/(d+4))
    var_scott, _ = kde.moments(proc, "scott", 0.0, 2, 3.0)
    np.testing.assert_allclose(var_scott, kde.fixed_bandwidth_replace(3.0, 12 ** (-1 / 6), 12, np.arange(31), 2))
    # γ = 1 every generation: every fit sees fresh real data
    real = Process.resolve(samples=12, generations=30, gamma=1.0)
    np.testing.assert_allclose(kde.moments(real, "fixed", 0.3, 2, 3.0)[0][1:], 3.0 * 11 / 12 + 2 * 0.09)


def test_accumulate_keeps_every_point():
    r = run(workflow="accumulate", samples=7, generations=5, chains=16, record_every=1)
    np.testing.assert_array_equal(r.trajectory["count"][:, 0], [1, 7, 14, 21, 28, 35])
    cov = r.final["cov"]
    assert np.all(cov[:, 0, 0] > 0.16)  # never below the kernel's h²


@pytest.mark.parametrize("workflow", ["replace", "accumulate", "accumulate-subsample"])
def test_shapes_and_addressability(workflow):
    r = run(np.zeros(2), np.eye(2), workflow=workflow, gamma=0.2, chains=24, bandwidth="silverman")
    assert r.metrics["variance"].shape == (9, 24) and r.final["cov"].shape == (24, 2, 2)
    assert np.all(r.metrics["variance"][0] == 2.0) and np.all(r.metrics["mean_sq"][0] == 0.0)
    part = run(np.zeros(2), np.eye(2), workflow=workflow, gamma=0.2, chains=4, first_chain=17, bandwidth="silverman")
    np.testing.assert_allclose(part.metrics["variance"], r.metrics["variance"][:, 17:21], rtol=1e-5)
    assert ("variance" in r.predictions) == (workflow != "accumulate-subsample")


def test_covariance_rule_and_non_gaussian_original():
    r = run(np.zeros(2), np.eye(2), bandwidth="scott-cov", original="mixture:4", samples=12, chains=32)
    assert np.all(np.isfinite(r.metrics["variance"])) and r.metrics["variance"][0, 0] == pytest.approx(6.0)
    k = r.final["kernel_cov"]
    assert np.all(np.linalg.eigvalsh(k) > 0)  # a full kernel covariance, not h²I


@pytest.mark.parametrize("kw,message", [
    ({"bandwidth": -0.2}, "must be > 0"),
    ({"bandwidth": "wide"}, "bandwidth must be a number > 0 or one of"),
    ({"bandwidth": "scott-cov", "samples": 1}, "needs M > d"),
    ({"beta": 0.1}, "beta > 0 is not supported"),
    ({"cov0": -1.0}, "must be finite and > 0"),
    ({"original": "cauchy"}, "unknown original distribution"),
    ({"chains": 10**6, "samples": 1000, "workflow": "accumulate"}, "would hold"),
])
def test_bad_input(kw, message):
    cov0 = kw.pop("cov0", 1.0)
    with pytest.raises(InputError, match=message):
        run(0.0, cov0, **kw)


def test_cli_exit_codes_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["kde", "--dim", "2", "--samples", "15", "--generations", "6", "--chains", "100",
                     "--bandwidth", "silverman", "--workflow", "accumulate", "--out", str(out), "--no-progress"]) == 0
    assert {"summary.csv", "metrics.npz", "final.npz", "moments.png"} <= {p.name for p in out.iterdir()}
    assert cli.main(["kde", "--bandwidth", "0", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "a fixed bandwidth must be > 0" in err and "Traceback" not in err
