"""Poisson rates (docs/THEORY.md §5.3): moments and absorption at λ = 0, checked by simulation."""

from __future__ import annotations

import numpy as np

from collapse_jax import Process, poisson

from .core import Row, Scale, compare, register

FAMILY = "poisson"


def _run(scale: Scale, quick: int, rate0: float, **kw):
    return poisson.simulate(rate0, chains=scale.chains(quick), seed=scale.seed, progress=False, **kw)


@register("martingale", FAMILY, "replace, constant M: E λ_t = λ_0 and Var λ_t = t λ_0/M (Suresh et al.); "
                                 "any schedule: Var λ_t = λ_0 Σ_{i<t} 1/M_i [derived]")
def martingale(scale: Scale) -> list[Row]:
    rows, chk = [], "poisson.martingale"
    for spec, rate0 in (("constant", 2.0), ("linear", 0.7)):
        r = _run(scale, 20000, rate0, samples=10, generations=40, schedule=spec)
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.asarray(r.config["sizes"], np.float64))])
        for t in (1, 10, 40):
            lam = r.metrics["rate"][t].astype(np.float64)
            rows.append(compare(chk, f"{spec} M₀=10: E λ_{t}, λ0={rate0}", lam, rate0))
            rows.append(compare(chk, f"{spec} M₀=10: E (λ_{t} − λ0)², λ0={rate0}", (lam - rate0) ** 2,
                                rate0 * harmonic[t]))
    return rows


@register("absorption", FAMILY,
          "replace: P(λ_t = 0) = exp(−λ_0 g_0∘…∘g_{t−2}(M_{t−1})), g_i(θ) = M_i(1 − e^{−θ/M_i}); "
          "constant M: Suresh et al.'s exp(−Mλ_0 g^{∘t}(∞)) [quoted; any schedule derived]")
def absorption(scale: Scale) -> list[Row]:
    rows, chk = [], "poisson.absorption"
    for rate0, times, kw in ((1.0, (5, 50, 300), {"samples": 10}), (10.0, (50, 150, 300), {"samples": 10}),
                             (0.5, (5, 50, 100), {"samples": 4, "schedule": "geometric:1.1"})):
        r = _run(scale, 20000, rate0, generations=times[-1], **kw)
        pred = r.predictions["absorbed"]
        for t in times:
            rows.append(compare(chk, f"P(λ_{t} = 0), λ0={rate0:g}, M={kw.get('schedule', 'const')}:{kw['samples']}",
                                r.metrics["absorbed"][t], pred[t]))
    return rows


@register("accumulate", FAMILY,
          "accumulate, constant M: E λ_n = λ_0, Var λ_n = (λ_0/M) Σ_{k≤n} 1/k² ≤ π²λ_0/(6M), "
          "P(λ_n = 0) = e^{−Mλ_0} for every n ≥ 1 [derived]")
def accumulate(scale: Scale) -> list[Row]:
    rate0, M, chk = 1.5, 5, "poisson.accumulate"
    r = _run(scale, 20000, rate0, samples=M, generations=50, workflow="accumulate")
    rows = []
    for t in (1, 10, 50):
        lam = r.metrics["rate"][t].astype(np.float64)
        rows.append(compare(chk, f"E (λ_{t} − λ0)², M={M}", (lam - rate0) ** 2,
                            rate0 / M * np.sum(1.0 / np.arange(1, t + 1) ** 2)))
        rows.append(compare(chk, f"P(λ_{t} = 0), M={M}", r.metrics["absorbed"][t], np.exp(-M * rate0)))
    return rows


@register("real_data", FAMILY, "a share γ_t of points from Poisson(λ_0): E λ_t and E λ_t² by the linear moment "
                                "recursion, any schedule of γ_t and M_t, replace or accumulate [derived]")
def real_data(scale: Scale) -> list[Row]:
    rows, chk = [], "poisson.real_data"
    rate0 = 3.0
    for workflow, gamma in (("replace", "linear:0.4,0.0"), ("accumulate", 0.2)):
        kw = dict(samples=6, generations=30, workflow=workflow, gamma=gamma)
        r = _run(scale, 20000, rate0, **kw)
        first, second = poisson.rate_moments(Process.resolve(**kw), rate0)
        for t in (3, 30):
            lam = r.metrics["rate"][t].astype(np.float64)
            rows.append(compare(chk, f"{workflow} γ={gamma}: E λ_{t}", lam, first[t]))
            rows.append(compare(chk, f"{workflow} γ={gamma}: E λ_{t}²", lam**2, second[t]))
    return rows
