"""Gaussian recursive fitting: docs/THEORY.md §3.2–3.3 against simulation (collapse_jax.gaussian)."""

from __future__ import annotations

import math

import numpy as np

from collapse_jax import gaussian
from collapse_jax.core.process import harmonic_sum

from .core import Row, Scale, compare, register

FAMILY = "gaussian"


def _sim(scale: Scale, quick: int, **kw):
    kw.setdefault("spectral_every", 0)
    return gaussian.simulate(chains=scale.chains(quick), seed=scale.seed, **kw)


@register("one_dimensional", FAMILY,
          "1-D unbiased, constant M: E σ_n² = σ², E(μ_n − μ)² = σ² Σ 1/M_i, E σ_n = σ Π c4(M_i), "
          "E W2² = σ² Σ 1/M_i + 2σ²(1 − Π c4(M_i))")
def one_dimensional(scale: Scale) -> list[Row]:
    var, M = 2.0, 20
    res = _sim(scale, 40000, mean0=1.0, cov0=var, samples=M, generations=50)
    sizes = np.full(50, M)
    H = harmonic_sum(sizes)
    prod_c4 = np.concatenate([[1.0], np.cumprod(gaussian.c4(sizes))])
    rows = []
    for n in (1, 10, 50):
        chk = "gaussian.one_dimensional"
        rows.append(compare(chk, f"E sigma_n^2, n={n}", res.metrics["trace"][n], var))
        rows.append(compare(chk, f"E (mu_n-mu)^2, n={n}", res.metrics["mean_sq"][n], var * H[n]))
        rows.append(compare(chk, f"E sigma_n, n={n}", res.metrics["sigma"][n], math.sqrt(var) * prod_c4[n]))
        rows.append(compare(chk, f"E W2^2, n={n}", res.metrics["w2"][n], var * H[n] + 2 * var * (1 - prod_c4[n])))
    return rows


@register("w2_first_order", FAMILY,
          "the paper's first-order E W2² ≈ (3/2) σ² Σ 1/M_i (SI eq. 6): an approximation, within 1.5 % of the "
          "exact form while Σ 1/M_i ≤ 0.5, 8 % low at Σ 1/M_i = 2.5 (M = 20, n = 50)",
          exact=False)
def w2_first_order(scale: Scale) -> list[Row]:
    var, M = 1.0, 20
    res = _sim(scale, 40000, mean0=0.0, cov0=var, samples=M, generations=50)
    approx = gaussian.w2_first_order(np.full(50, M), var)
    return [compare("gaussian.w2_first_order", f"E W2^2 vs (3/2)σ²n/M, n={n}", res.metrics["w2"][n], approx[n],
                    exact=False, rel_tol=tol) for n, tol in ((2, 0.03), (10, 0.03), (50, 0.1))]


@register("schedules", FAMILY,
          "any schedule M_i: E(μ_n − μ)² = σ² Σ 1/M_i, E σ_n = σ Π c4(M_i), exact E W2²; "
          "bounded iff Σ 1/M_i converges")
def schedules(scale: Scale) -> list[Row]:
    rows = []
    G = 30
    for spec in ("linear", "poly:1.5", "geometric:1.2"):
        res = _sim(scale, 20000, mean0=0.0, cov0=1.0, samples=4, generations=G, schedule=spec)
        sizes = np.asarray(res.config["sizes"])
        H = harmonic_sum(sizes)[G]
        pc4 = float(np.prod(gaussian.c4(sizes)))
        chk = "gaussian.schedules"
        rows.append(compare(chk, f"{spec}: E (mu_n-mu)^2, n={G}", res.metrics["mean_sq"][G], H))
        rows.append(compare(chk, f"{spec}: E sigma_n, n={G}", res.metrics["sigma"][G], pc4))
        rows.append(compare(chk, f"{spec}: E W2^2, n={G}", res.metrics["w2"][G], H + 2 * (1 - pc4)))
    return rows


_COV3 = np.array([[1.0, 0.4, -0.2], [0.4, 1.5, 0.3], [-0.2, 0.3, 0.6]])


@register("log_determinant", FAMILY,
          "d-dim unbiased: E ln det Σ_n − ln det Σ_0 = n κ_d(M), κ_d = Σ_k [ψ((M−k)/2) + ln 2] − d ln(M−1); "
          "Var ln det Σ_n = n Σ_k ψ₁((M−k)/2); E‖μ_n − μ_0‖² = n tr Σ_0 / M; E Σ_n = Σ_0")
def log_determinant(scale: Scale) -> list[Row]:
    d, M, n = 3, 12, 20
    res = _sim(scale, 20000, mean0=np.zeros(d), cov0=_COV3, samples=M, generations=n)
    ld0 = float(np.linalg.slogdet(_COV3)[1])
    drift = n * float(gaussian.kappa(np.array([M]), d)[0])
    var = n * float(gaussian.logdet_variance_step(np.array([M]), d)[0])
    change = res.metrics["logdet"][n] - ld0
    chk = "gaussian.log_determinant"
    return [
        compare(chk, f"E ln det change, d={d} M={M} n={n}", change, drift),
        compare(chk, f"Var ln det (E (x - drift)^2), n={n}", (change - drift) ** 2, var),
        compare(chk, f"E |mu_n - mu_0|^2, n={n}", res.metrics["mean_sq"][n], n * np.trace(_COV3) / M),
        compare(chk, f"E tr Sigma_n, n=5", res.metrics["trace"][5], np.trace(_COV3)),
    ]


@register("cholesky_rates", FAMILY,
          "2 × the k-th Cholesky log-diagonal of Σ_n moves by i.i.d. ln χ²_{M−k} − ln(M−1): "
          "E = n[ψ((M−k)/2) + ln 2 − ln(M−1)], the k-th Lyapunov (eigenvalue) rate")
def cholesky_rates(scale: Scale) -> list[Row]:
    d, M, n = 3, 12, 200
    res = _sim(scale, 2000, mean0=np.zeros(d), cov0=np.eye(d), samples=M, generations=n)
    rates = gaussian.eigen_rates(M, d)
    ell = np.asarray(res.final["log_chol_diag"], np.float64)
    return [compare("gaussian.cholesky_rates", f"(2/n) ln L_kk, k={k + 1}, n={n}", 2 * ell[:, k] / n, rates[k])
            for k in range(d)]


@register("eigen_rates", FAMILY,
          "(1/n) ln λ_k(Σ_n) → ψ((M−k)/2) + ln 2 − ln(M−1) almost surely (largest and smallest eigenvalue, "
          "long runs; O(1/n) bias at finite n)", exact=False)
def eigen_rates(scale: Scale) -> list[Row]:
    d, M, n = 3, 12, 4000
    res = _sim(scale, 24, mean0=np.zeros(d), cov0=np.eye(d), samples=M, generations=n, spectral_every=n)
    rates = gaussian.eigen_rates(M, d)
    chk = "gaussian.eigen_rates"
    return [
        compare(chk, f"(1/n) ln lambda_max, n={n}", res.metrics["log_eig_max"][n] / n, rates[0],
                exact=False, rel_tol=0.05),
        compare(chk, f"(1/n) ln lambda_min, n={n}", res.metrics["log_eig_min"][n] / n, rates[-1],
                exact=False, rel_tol=0.05),
    ]


@register("mle", FAMILY,
          "MLE (divide by M): E Σ_n = Σ_0 (1 − 1/M)^n; E ln det drift Σ_k [ψ((M−k)/2) + ln 2] − d ln M")
def mle(scale: Scale) -> list[Row]:
    d, M, n = 2, 10, 15
    res = _sim(scale, 20000, mean0=np.zeros(d), cov0=np.eye(d), samples=M, generations=n, estimator="mle")
    chk = "gaussian.mle"
    return [
        compare(chk, f"E tr Sigma_n / d, n={n}", res.metrics["trace"][n] / d, (1 - 1 / M) ** n),
        compare(chk, f"E ln det, n={n}", res.metrics["logdet"][n], n * float(gaussian.kappa(np.array([M]), d, "mle")[0])),
    ]


@register("accumulate_mle", FAMILY,
          "accumulate + MLE (M new points per generation): E Σ_t = Σ_0 Π_{k≤t} (1 − 1/(M k²)) exactly")
def accumulate_mle(scale: Scale) -> list[Row]:
    M, t = 10, 200
    res = _sim(scale, 4000, mean0=0.0, cov0=1.0, samples=M, generations=t, estimator="mle", workflow="accumulate")
    prod = np.cumprod(1 - 1 / (M * np.arange(1, t + 1) ** 2.0))
    return [compare("gaussian.accumulate_mle", f"E sigma_t^2, M={M}, t={n}", res.metrics["trace"][n], prod[n - 1])
            for n in (1, 10, t)]


@register("accumulate_limit", FAMILY,
          "accumulate + MLE: E Σ_t → Σ_0 sin(π/√M)/(π/√M) (0.8434 at M = 10): no collapse", exact=False)
def accumulate_limit(scale: Scale) -> list[Row]:
    M, t = 10, 200
    res = _sim(scale, 4000, mean0=0.0, cov0=1.0, samples=M, generations=t, estimator="mle", workflow="accumulate")
    x = math.pi / math.sqrt(M)
    return [compare("gaussian.accumulate_limit", f"E sigma_t^2 vs the t→∞ limit, t={t}", res.metrics["trace"][t],
                    math.sin(x) / x, exact=False, rel_tol=0.01)]


@register("mixing_real_data", FAMILY,
          "γ of each generation's points from D_0 (replace, unbiased): tr Cov p = α tr Σ + γ tr Σ_0 + αγ‖μ − μ_0‖² "
          "gives linear recursions for E tr Σ_n and E‖μ_n − μ_0‖² [derived]")
def mixing_real_data(scale: Scale) -> list[Row]:
    d, M, n, g = 2, 10, 30, 0.2
    res = _sim(scale, 10000, mean0=np.zeros(d), cov0=np.eye(d), samples=M, generations=n, gamma=g)
    chk = "gaussian.mixing_real_data"
    return [compare(chk, f"gamma={g}: E {name}, n={n}", res.metrics[name][n], res.predictions[name][n])
            for name in ("trace", "mean_sq")]


@register("non_gaussian_original", FAMILY,
          "non-Gaussian D_0 (Student-t, 5 dof): E‖μ_n − mean D_0‖² = tr Σ_0 Σ 1/M_i and E tr Σ_n = tr Σ_0 "
          "(only second moments enter); the first is a lower bound on E W2²(N_n, D_0)")
def non_gaussian_original(scale: Scale) -> list[Row]:
    d, M, n = 2, 15, 8
    res = _sim(scale, 6000, mean0=np.zeros(d), cov0=np.eye(d), samples=M, generations=n, sampler="points",
               original="student-t:5")
    chk = "gaussian.non_gaussian_original"
    return [compare(chk, f"student-t:5: E {name}, n={n}", res.metrics[name][n], res.predictions[name][n])
            for name in ("mean_sq", "trace")]


@register("median_location", FAMILY,
          "coordinate-wise median as the location (points sampler, replace): E‖μ_n − μ_0‖² = Σ_{i<n} v_{M_i} "
          "E tr Σ_i, v_M = E med(Z_1..Z_M)² by quadrature (n v_M tr Σ_0 when unbiased, constant M); "
          "the covariance law (ln det drift n κ_d) is unchanged")
def median_location(scale: Scale) -> list[Row]:
    d, n = 3, 12
    chk, rows = "gaussian.median_location", []
    for M, estimator in ((7, "unbiased"), (8, "unbiased"), (6, "mle")):
        res = _sim(scale, 8000, mean0=np.ones(d), cov0=_COV3, samples=M, generations=n, sampler="points",
                   location="median", estimator=estimator)
        v = float(gaussian.median_second_moment(M))
        growth = np.cumprod(np.full(n, (M - 1) / float(gaussian.divisor(M, estimator))))
        pred = v * np.trace(_COV3) * (n if estimator == "unbiased" else 1 + float(np.sum(growth[:-1])))
        rows.append(compare(chk, f"M={M} {estimator}: E |mu_n - mu_0|^2, n={n}", res.metrics["mean_sq"][n], pred))
        drift = n * float(gaussian.kappa(np.array([M]), d, estimator)[0])  # tr Σ_n is heavy-tailed; ln det is not
        rows.append(compare(chk, f"M={M} {estimator}: E ln det change, n={n}",
                            res.metrics["logdet"][n] - np.linalg.slogdet(_COV3)[1], drift))
    return rows


@register("singular_fits", FAMILY,
          "M ≤ d (MLE, points sampler): Σ_n has rank M − 1; E tr Σ_n = tr Σ_0 (1 − 1/M)^n, E‖μ_n − μ_0‖² = "
          "tr Σ_0 Σ_{i<n} (1 − 1/M)^i / M, and the live Cholesky log-diagonals 2ℓ_k move by ψ((M−k)/2) + ln 2 − ln M, "
          "k ≤ M − 1; replace and accumulate")
def singular_fits(scale: Scale) -> list[Row]:
    d, M, n = 8, 5, 10
    chk, rows = "gaussian.singular_fits", []
    cov0 = np.diag(np.linspace(0.5, 2.0, d))
    for workflow in ("replace", "accumulate"):
        res = _sim(scale, 6000, mean0=np.zeros(d), cov0=cov0, samples=M, generations=n, sampler="points",
                   estimator="mle", workflow=workflow)
        for name in ("trace", "mean_sq"):
            rows.append(compare(chk, f"{workflow} d={d} M={M}: E {name}, n={n}", res.metrics[name][n],
                                res.predictions[name][n]))
    ell = np.asarray(res.final["log_chol_diag"], np.float64)  # accumulate: rank M - 1 for good
    rows.append(compare(chk, f"accumulate: live Cholesky columns = M - 1 = {M - 1}", np.isfinite(ell).sum(1), M - 1))
    res = _sim(scale, 6000, mean0=np.zeros(d), cov0=cov0, samples=M, generations=n, sampler="points",
               estimator="mle")
    ell = np.asarray(res.final["log_chol_diag"], np.float64)
    rates = gaussian.eigen_rates(M, M - 1, "mle")
    ell0 = 0.5 * np.log(np.diag(cov0))
    for k in (0, M - 2):
        rows.append(compare(chk, f"replace: 2 (l_k(n) - l_k(0)) / n, k={k + 1}", 2 * (ell[:, k] - ell0[k]) / n,
                            rates[k]))
    return rows
