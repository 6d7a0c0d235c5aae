"""collapse_jax.gaussian.spectral (log-scaled one-sided Jacobi SVD) and the Gaussian spectral metrics built on it,
against scipy in float64: LAPACK's preconditioned Jacobi SVD (dgejsv, accurate in relative terms for
column-scaled matrices) and scipy.linalg.sqrtm for W₂.

Tolerances come from the algorithm's bound and the dtype: a lane stops when every pair of columns
has |cos| ≤ tol (spectral.tolerance: 4√n·ε), which bounds each singular value's relative error by
(d − 1)·tol (Ostrowski); rounding adds O(ε) per rotation, amplified by at most κ(B̂), the condition
number of the column-normalised matrix (Demmel & Veselić 1992), over ``sweeps`` sweeps of d − 1
rounds. So |Δ ln σ| ≤ (d − 1)·tol + sweeps·d·ε·κ(B̂) (and the input's own rounding to the dtype,
ε·κ(B̂), is inside that), plus the rounding of the logarithm itself, a few ε·(1 + |ln σ|) (ours and
the reference's)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg
from scipy.linalg import lapack

from collapse_jax.gaussian import kernel, spectral, theory


def _reference_log_sv(U: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Sorted ln σ of U diag(e^ℓ) in float64 by LAPACK dgejsv (relative accuracy)."""
    sva, _, _, work, _, info = lapack.dgejsv(U * np.exp(ell)[None, :], joba=4, jobu=3, jobv=3)
    assert info == 0
    return np.sort(np.log(work[1] / work[0] * sva))


def _kappa_colnorm(U: np.ndarray) -> float:
    B = U / np.linalg.norm(U, axis=0)[None, :]
    return float(np.linalg.cond(B))


def _random_factor(rng, d, ell_low):
    """U unit lower-triangular with N(0, 1/4) entries and ℓ uniform on [ell_low, 0]."""
    U = np.tril(rng.standard_normal((d, d)) * 0.5, -1) + np.eye(d)
    return U, rng.uniform(ell_low, 0.0, d)


def _jacobi(U_lanes, ell_lanes, dtype, **kw):
    f = jax.jit(lambda b, g: spectral.log_singular_values(b, g, return_sweeps=True, **kw))
    out, sweeps = f(jnp.asarray(U_lanes, dtype), jnp.asarray(ell_lanes, dtype))
    return np.asarray(out, np.float64), int(sweeps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [2, 3, 5, 10, 11])
def test_singular_values_match_lapack_jacobi(d, dtype):
    """Eigenvalues of Σ = L Lᵀ spanning 1e-30..1 (ℓ down to −34.5), 48 matrices as lanes of one call."""
    rng = np.random.default_rng(d)
    lanes = 48
    mats = [_random_factor(rng, d, -34.5) for _ in range(lanes)]
    U = np.stack([m[0] for m in mats], axis=-1)
    ell = np.stack([m[1] for m in mats], axis=-1)
    with jax.enable_x64(dtype == np.float64):
        got, sweeps = _jacobi(U, ell, dtype)
    eps = float(np.finfo(dtype).eps)
    tol = spectral.tolerance(d, dtype)
    for c, (Uc, ellc) in enumerate(mats):
        ref = _reference_log_sv(Uc.astype(dtype).astype(np.float64), ellc.astype(dtype).astype(np.float64))
        bound = (d - 1) * tol + sweeps * d * eps * _kappa_colnorm(Uc)
        err = np.abs(np.sort(got[:, c]) - ref)
        assert np.all(err <= bound + 4 * eps * (1 + np.abs(ref))), (c, err.max(), bound)
        # ln det Σ = Σ_k 2 ln σ_k = 2 Σ ℓ (the log-determinant is exact in the state)
        assert abs(np.sum(got[:, c]) - np.sum(ellc)) <= d * bound + d * eps * np.abs(ellc).sum()


def test_collapsed_beyond_float_range():
    """float32 with ℓ spread over 3000 e-folds (Σ's eigenvalues down to e^-6000, far below any float):
    the extremes against a float64 reference that never forms Σ — λ_max from the largest singular
    value of U diag(e^{ℓ−max ℓ}), λ_min from that of diag(e^{min ℓ−ℓ}) U⁻¹ (largest singular values are
    accurate in absolute, hence relative, terms); and the log-determinant identity."""
    rng = np.random.default_rng(7)
    d, lanes = 6, 32
    mats = [_random_factor(rng, d, -3000.0) for _ in range(lanes)]
    U = np.stack([m[0] for m in mats], axis=-1)
    ell = np.stack([m[1] for m in mats], axis=-1)
    got, sweeps = _jacobi(U, ell, np.float32)
    eps = float(np.finfo(np.float32).eps)
    assert np.all(np.isfinite(got))
    for c, (Uc, ellc) in enumerate(mats):
        Uc, ellc = Uc.astype(np.float32).astype(np.float64), ellc.astype(np.float32).astype(np.float64)
        smax, smin = ellc.max(), ellc.min()
        top = math.log(np.linalg.norm(Uc * np.exp(ellc - smax)[None, :], 2)) + smax
        K2 = np.exp(smin - ellc)[:, None] * linalg.solve_triangular(Uc, np.eye(d), lower=True, unit_diagonal=True)
        bottom = smin - math.log(np.linalg.norm(K2, 2))
        bound = (d - 1) * spectral.tolerance(d, np.float32) + sweeps * d * eps * _kappa_colnorm(Uc)
        # absolute error in ln σ, plus float32's rounding of the log-scale itself (|ℓ| up to 3000)
        slack = bound + 4 * eps * np.abs(ellc).max()
        assert abs(got[:, c].max() - top) <= slack
        assert abs(got[:, c].min() - bottom) <= slack
        assert abs(got[:, c].sum() - ellc.sum()) <= d * slack


def test_rectangular_odd_and_degenerate_inputs():
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        for n, d in ((7, 4), (3, 3), (5, 1), (4, 2)):
            b = rng.standard_normal((n, d))
            got = np.sort(np.asarray(spectral.log_singular_values(jnp.asarray(b), jnp.zeros(d))))
            ref = np.sort(np.log(np.linalg.svd(b, compute_uv=False)))
            assert np.max(np.abs(got - ref)) < 1e-12 * np.linalg.cond(b), (n, d)
        # an exactly zero column: σ = 0 exactly, ln σ = −inf, the rest unaffected
        b = rng.standard_normal((4, 3))
        b[:, 1] = 0.0
        got = np.sort(np.asarray(spectral.log_singular_values(jnp.asarray(b), jnp.zeros(3))))
        assert got[0] == -np.inf
        np.testing.assert_allclose(got[1:], np.sort(np.log(np.linalg.svd(b, compute_uv=False)[:2])), atol=1e-13)


def test_unconverged_lanes_return_nan_and_the_loop_ends():
    """max_sweeps bounds the loop; a lane still rotating after it is NaN, never a wrong number."""
    rng = np.random.default_rng(5)
    mats = [_random_factor(rng, 10, -5.0) for _ in range(16)]
    U = np.stack([m[0] for m in mats], axis=-1)
    ell = np.stack([m[1] for m in mats], axis=-1)
    one, sweeps = _jacobi(U, ell, np.float32, max_sweeps=1)
    assert sweeps == 1 and np.all(np.isnan(one))
    full, sweeps = _jacobi(U, ell, np.float32)
    assert np.all(np.isfinite(full)) and 2 <= sweeps < spectral.MAX_SWEEPS


# ---------------------------------------------------------------------------------------------
# the Gaussian metrics that use it
# ---------------------------------------------------------------------------------------------

def _metrics(cov0, mean0, d, mu, U, ell):
    """The kernels' metrics of lanes-last states, every one computed (as at a spectral generation)."""
    ref = {k: jnp.asarray(v, jnp.float64) for k, v in kernel.reference(mean0, cov0).items()}

    def run(mu, U, ell):
        out = kernel.cheap_metrics(ref, d, mu, U, ell)
        out.update(kernel.spectral_metrics(ref, d, kernel.is_isotropic(cov0), U, ell, out["mean_sq"], out["trace"]))
        return out

    return {k: np.asarray(v) for k, v in jax.jit(run)(jnp.asarray(mu), jnp.asarray(U), jnp.asarray(ell)).items()}


@pytest.mark.parametrize("iso", [True, False])
def test_w2_and_extreme_eigenvalues_match_scipy(iso):
    """W₂², ln λ_max and ln λ_min against float64 references, for fits from Σ₀-like to collapsed
    (eigenvalues 1e-30..1) against an isotropic and a general Σ₀. The W₂ reference is
    ‖μ − μ₀‖² + tr Σ + tr Σ₀ − 2‖L₀ᵀL‖_* with the nuclear norm from dgejsv (scipy.linalg.sqrtm of a
    nearly singular Σ₀^{1/2}ΣΣ₀^{1/2} is only √ε-accurate: it is checked where Σ is well conditioned).
    W₂²'s error allowance is the cancellation floor of its formula, 64·d·ε·(tr Σ + tr Σ₀ + ‖μ − μ₀‖²)."""
    rng = np.random.default_rng(11 + iso)
    d = 5
    if iso:
        cov0 = 2.5 * np.eye(d)
    else:
        A = rng.standard_normal((d, d))
        cov0 = A @ A.T + 0.3 * np.eye(d)
    mean0 = rng.standard_normal(d)
    lanes = 40
    mats = [_random_factor(rng, d, low) for low in np.linspace(-0.5, -34.5, lanes)]
    U = np.stack([m[0] for m in mats], axis=-1)
    ell = np.stack([m[1] for m in mats], axis=-1)
    mu = mean0[:, None] + rng.standard_normal((d, lanes))
    with jax.enable_x64(True):
        out = _metrics(cov0, mean0, d, mu, U, ell)
    eps = float(np.finfo(np.float64).eps)
    for c, (Uc, ellc) in enumerate(mats):
        cov = kernel.covariance_of(Uc, ellc)
        scale = np.trace(cov) + np.trace(cov0) + np.sum((mu[:, c] - mean0) ** 2)
        nuclear = np.exp(_reference_log_sv(np.linalg.cholesky(cov0).T @ Uc, ellc)).sum()
        ref = np.sum((mu[:, c] - mean0) ** 2) + np.trace(cov) + np.trace(cov0) - 2 * nuclear
        assert abs(out["w2"][c] - ref) <= 64 * d * eps * scale, c
        if np.linalg.cond(cov) < 1e6:
            ref_sqrtm = theory.w2_gaussian_reference(mu[:, c], cov, mean0, cov0)
            assert abs(out["w2"][c] - ref_sqrtm) <= 64 * d * eps * scale * math.sqrt(np.linalg.cond(cov)), c
        log_sv = _reference_log_sv(Uc, ellc)
        bound = (d - 1) * spectral.tolerance(d, np.float64) + 40 * d * eps * _kappa_colnorm(Uc)
        assert abs(out["log_eig_max"][c] - 2 * log_sv[-1]) <= 2 * bound + 8 * eps * (1 + abs(log_sv[-1])), c
        assert abs(out["log_eig_min"][c] - 2 * log_sv[0]) <= 2 * bound + 8 * eps * (1 + abs(log_sv[0])), c
        assert abs(out["logdet"][c] - 2 * ellc.sum()) <= 16 * d * eps * np.abs(ellc).sum()


def test_spectral_rows_schedule():
    rows = kernel.spectral_rows("log", 500)
    assert rows[: kernel.SPECTRAL_DENSE + 1].all() and rows[500]
    # SPECTRAL_PER_OCTAVE rows per doubling after the dense start, and the last
    extra = kernel.SPECTRAL_PER_OCTAVE * math.log2(500 / kernel.SPECTRAL_DENSE)
    assert abs(rows.sum() - (kernel.SPECTRAL_DENSE + 1 + extra)) <= 2
    assert kernel.log_spaced_generations()[-1] >= 2**31 - 1
    np.testing.assert_array_equal(np.nonzero(kernel.spectral_rows(3, 10))[0], [0, 3, 6, 9, 10])
    assert not kernel.spectral_rows(0, 5).any()
