"""Kernel density estimation (docs/THEORY.md §5.2): the variance and the mean's drift of refitted
KDEs, checked by simulation."""

from __future__ import annotations

import numpy as np

from collapse_jax import kde

from .core import Row, Scale, compare, register

FAMILY = "kde"


def _run(scale: Scale, quick: int, mean0, cov0, **kw):
    return kde.simulate(mean0, cov0, chains=scale.chains(quick), seed=scale.seed, progress=False, **kw)


@register("fixed_bandwidth", FAMILY, "1-D, fixed h, replace: E V_t = s²(1 − 1/M)^t + h² Σ_{j<t} (1 − 1/M)^j; "
                                      "d-dim: tr Σ_0 (1 − 1/M)^t + d h² Σ_{j<t} (1 − 1/M)^j [derived]")
def fixed_bandwidth(scale: Scale) -> list[Row]:
    rows, chk, M, h = [], "kde.fixed_bandwidth", 20, 0.3
    for mean0, cov0 in ((0.5, 2.0), (np.zeros(3), np.diag([1.0, 0.5, 2.0]))):
        d = np.size(mean0)
        r = _run(scale, 8000, mean0, cov0, bandwidth=h, samples=M, generations=60)
        exact = kde.fixed_bandwidth_replace(float(np.trace(np.atleast_2d(cov0))), h, M, np.arange(61), d)
        rows += [compare(chk, f"d={d} M={M} h={h}: E V_{t}", r.metrics["variance"][t], exact[t]) for t in (1, 10, 60)]
    return rows


@register("mean_drift", FAMILY, "replace: E‖μ_t − μ_0‖² = Σ_{i<t} E V_i/M (the mean of each sample wanders "
                                 "by the KDE's variance over M) [derived]")
def mean_drift(scale: Scale) -> list[Row]:
    M, h, chk = 20, 0.3, "kde.mean_drift"
    r = _run(scale, 8000, np.zeros(2), np.eye(2), bandwidth=h, samples=M, generations=40)
    v = kde.fixed_bandwidth_replace(2.0, h, M, np.arange(40), 2)
    exact = np.concatenate([[0.0], np.cumsum(v / M)])
    return [compare(chk, f"d=2 M={M}: E |μ_{t} − μ_0|²", r.metrics["mean_sq"][t], exact[t]) for t in (1, 10, 40)]


@register("accumulate", FAMILY,
          "accumulate (the pool is the KDE): E tr Cov and E‖μ − μ_0‖² by the pooled-moment recursion, "
          "fixed h and scikit-learn's Scott rule h = N^{−1/(d+4)} [derived]")
def accumulate(scale: Scale) -> list[Row]:
    rows, chk = [], "kde.accumulate"
    for bw in (0.4, "scott"):
        r = _run(scale, 4000, np.zeros(2), np.eye(2), bandwidth=bw, samples=10, generations=30, workflow="accumulate")
        for name in ("variance", "mean_sq"):
            rows += [compare(chk, f"h={bw}: E {name}_{t}", r.metrics[name][t], r.predictions[name][t]) for t in (1, 30)]
    return rows


@register("covariance_bandwidth", FAMILY, "scipy's rules (kernel = f(N)² × the points' covariance): E tr Cov_t = "
                                           "tr Σ_0 ((M − 1)/M + f(M)²)^t under replace — the KDE widens without "
                                           "bound [derived]")
def covariance_bandwidth(scale: Scale) -> list[Row]:
    M, d, chk = 20, 1, "kde.covariance_bandwidth"  # (Scott's and Silverman's factors coincide in 2-D)
    rows = []
    for rule in ("scott-cov", "silverman-cov"):
        r = _run(scale, 8000, np.zeros(d), np.eye(d), bandwidth=rule, samples=M, generations=10)
        grow = (M - 1) / M + float(kde.rule_factor(rule, M, d)) ** 2
        rows += [compare(chk, f"{rule}: E tr Cov_{t}", r.metrics["variance"][t], d * grow**t) for t in (1, 5)]
    return rows


@register("real_data", FAMILY, "a share γ_t of points from D_0 (Student-t D_0 too: only moments enter): "
                                "E tr Cov and E‖μ − μ_0‖² from the mixed-data recursion [derived]")
def real_data(scale: Scale) -> list[Row]:
    rows, chk = [], "kde.real_data"
    for original, gamma in (("gaussian", "exp:0.5,0.9"), ("student-t:5", 0.2)):
        r = _run(scale, 8000, np.zeros(2), np.eye(2), bandwidth=0.5, samples=15, generations=25, gamma=gamma,
                 original=original)
        for name in ("variance", "mean_sq"):
            rows.append(compare(chk, f"{original} γ={gamma}: E {name}_25", r.metrics[name][25],
                                r.predictions[name][25]))
    return rows
