"""Linear regression (docs/THEORY.md §5.1): Gerstgrasser et al.'s and Dohmatob et al.'s test errors
and their generalisations, checked by simulation."""

from __future__ import annotations

import numpy as np

from collapse_jax import regression

from .core import Row, Scale, compare, register

FAMILY = "regression"


def _run(scale: Scale, quick: int, **kw):
    return regression.simulate(chains=scale.chains(quick), seed=scale.seed, progress=False, **kw)


@register("replace", FAMILY, "fresh isotropic design, replace: E‖ŵ_n − w*‖² = n σ² d/(T − d − 1) "
                              "(Gerstgrasser et al.)")
def replace(scale: Scale) -> list[Row]:
    d, T, sigma = 4, 14, 0.8
    r = _run(scale, 10000, dim=d, samples=T, generations=30, noise=sigma)
    exact = regression.replace_linear(np.arange(31), d, T, sigma)
    return [compare("regression.replace", f"E test_{n}, d={d} T={T}", r.metrics["test_error"][n], exact[n])
            for n in (1, 10, 30)]


@register("accumulate", FAMILY,
          "fresh design, accumulate: E‖e_n‖² = Σ_{k<n} σ² d T_k/(N_{k+1}(N_{k+1} − d − 1)), "
          "N_k = T_0 + … + T_{k−1} [derived]; reused design: σ² tr(XᵀX)⁻¹ Σ_{k≤n} 1/k² "
          "(Gerstgrasser et al., given the design)")
def accumulate(scale: Scale) -> list[Row]:
    d, T, chk = 4, 14, "regression.accumulate"
    rows = []
    for design in ("fresh", "fixed"):
        r = _run(scale, 10000, dim=d, samples=T, generations=30, workflow="accumulate", design=design)
        if design == "fresh":
            n = np.arange(1, 31)
            exact = np.concatenate([[0.0], np.cumsum(d / (n * (n * T - d - 1)))])
        else:
            X, _ = regression.shared_draws(0, T, d)
            exact = np.trace(np.linalg.inv(X.T @ X)) * np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 31) ** 2)])
        rows += [compare(chk, f"{design} design: E test_{n}, d={d} T={T}", r.metrics["test_error"][n], exact[n])
                 for n in (1, 5, 30)]
    return rows


@register("dohmatob", FAMILY, "fresh design, n generations of T_0 rows and noise σ_0, then one of T rows and σ: "
                               "E test = σ² d/(T − d − 1) + n σ_0² d/(T_0 − d − 1) (Dohmatob et al.)")
def dohmatob(scale: Scale) -> list[Row]:
    d, T0, T, s0, s, n = 5, 20, 40, 0.5, 1.0, 8
    r = _run(scale, 10000, dim=d, schedule=[T0] * n + [T], generations=n + 1,
             noise=[s0] * n + [s])
    exact = s**2 * d / (T - d - 1) + n * s0**2 * d / (T0 - d - 1)
    return [compare("regression.dohmatob", f"E test after {n}×(T0={T0}, σ0={s0}) + (T={T}, σ={s})",
                    r.metrics["test_error"][n + 1], exact)]


@register("real_rows", FAMILY,
          "fresh design, replace, a share γ_t of rows labelled by w*: E‖e_{t+1}‖² = κ_t E‖e_t‖² + "
          "σ² d/(T − d − 1), κ = α[(1 − α)(1 + (T + 1)(d − 1)/(T − d − 1)) + Tα + 2]/(T + 2) "
          "[derived]")
def real_rows(scale: Scale) -> list[Row]:
    d, T, rows = 4, 12, []
    for gamma in (0.3, "linear:0.6,0.0"):
        r = _run(scale, 10000, dim=d, samples=T, generations=20, gamma=gamma)
        rows += [compare("regression.real_rows", f"γ={gamma}: E test_{n}", r.metrics["test_error"][n],
                         r.predictions["test_error"][n]) for n in (2, 20)]
    return rows


@register("fixed_design", FAMILY,
          "fixed design, ridge λ, a share γ_t of real rows, replace or accumulate: E‖e_t‖² from the linear "
          "recursion of E b and E bbᵀ, exactly given the design [derived]")
def fixed_design(scale: Scale) -> list[Row]:
    rows = []
    for workflow in ("replace", "accumulate"):
        r = _run(scale, 10000, dim=3, samples=8, generations=20, design="fixed", ridge=1.5, gamma=0.25,
                 workflow=workflow, noise=0.7)
        rows += [compare("regression.fixed_design", f"{workflow}, λ=1.5, γ=0.25: E test_{n}",
                         r.metrics["test_error"][n], r.predictions["test_error"][n]) for n in (1, 20)]
    return rows
