"""Discrete chain (docs/THEORY.md §2.2): the neutral Wright–Fisher identities, checked by simulation."""

from __future__ import annotations

import numpy as np

from collapse_jax import discrete

from .core import Row, Scale, compare, register

P4 = np.array([0.5, 0.3, 0.15, 0.05])  # docs/THEORY.md §6's verification distribution


def _run(p0, scale: Scale, quick_chains: int, **kw):
    return discrete.simulate(p0, chains=scale.chains(quick_chains), seed=scale.seed, progress=False, **kw)


@register("martingale", "discrete", "E[p_{i,t}] = p_{0,i}")
def martingale(scale: Scale) -> list[Row]:
    r = _run(P4, scale, 4000, samples=50, generations=60)
    p = r.final["p"]
    return [compare("discrete.martingale", f"E p_{i},60 (M=50)", p[:, i], P4[i]) for i in range(P4.size)]


@register("gini_simpson", "discrete", "E[H_t] = H_0 Π_{i<t} (1 − 1/M_i)")
def gini_simpson(scale: Scale) -> list[Row]:
    rows = []
    for schedule, samples in (("constant", 50), ("linear", 10)):
        r = _run(P4, scale, 4000, samples=samples, generations=60, schedule=schedule)
        pred = discrete.gini_simpson_expected(P4, np.asarray(r.config["sizes"]))
        for t in (1, 10, 60):
            rows.append(compare("discrete.gini_simpson", f"E H_{t} ({schedule} M={samples})",
                                r.metrics["gini_simpson"][t], pred[t]))
    return rows


@register("variance", "discrete", "Var(p_{i,t}) = p_i (1 − p_i) [1 − (1 − 1/M)^t]")
def variance(scale: Scale) -> list[Row]:
    r = _run(P4, scale, 4000, samples=50, generations=60, record_every=10)
    traj, gens = r.trajectory["p"], r.trajectory["generation"]
    rows = []
    for t in (1, 6):  # snapshots at generations 10 and 60
        for i in (0, 3):
            # E p_{i,t} = p_{0,i} exactly, so the mean squared deviation is an unbiased variance.
            dev2 = (traj[t][:, i].astype(np.float64) - P4[i]) ** 2
            rows.append(compare("discrete.variance", f"Var p_{i},{gens[t]}", dev2,
                                discrete.variance_expected(P4[i], 50, gens[t])))
    return rows


@register("loss_one_generation", "discrete", "P(state i absent after one generation) = (1 − p_i)^M")
def loss_one_generation(scale: Scale) -> list[Row]:
    r = _run(P4, scale, 20000, samples=50, generations=1)
    rows = []
    for i in (2, 3):
        lost = (r.final["p"][:, i] == 0).astype(np.float64)
        rows.append(compare("discrete.loss_one_generation", f"P(p_{i},1 = 0), p_i={P4[i]}", lost, (1 - P4[i]) ** 50))
    return rows


@register("absorption_state", "discrete", "P(absorbed at state i) = p_{0,i}")
def absorption_state(scale: Scale) -> list[Row]:
    r = _run(P4, scale, 4000, samples=20, generations=500)
    final = r.final["p"]
    assert np.all(final.max(axis=1) == 1.0), "chains left unabsorbed: raise generations"
    winner = final.argmax(axis=1)
    return [compare("discrete.absorption_state", f"P(absorbed at {i}) (M=20)", (winner == i).astype(float), P4[i])
            for i in range(P4.size)]


@register("absorption_time", "discrete",
          "E[time to one state] ≈ −2M Σ (1 − p_i) ln(1 − p_i) (diffusion, Littler 1975)", exact=False)
def absorption_time(scale: Scale) -> list[Row]:
    rows = []
    for p0, label in ((np.array([0.5, 0.5]), "K=2, p=1/2"), (P4, "K=4")):
        r = _run(p0, scale, 2000, samples=100, generations=2500)
        t_abs = r.events["absorbed_at"]
        assert np.all(t_abs >= 0), "chains left unabsorbed: raise generations"
        m, se = t_abs.mean(), t_abs.std(ddof=1) / np.sqrt(t_abs.size)
        # O(1)-generation accuracy: judge by relative error (3%), not by z.
        rows.append(Row("discrete.absorption_time", f"E T_abs ({label}, M=100)", float(m), float(se),
                        discrete.absorption_time_diffusion(p0, 100), exact=False, rel_tol=0.03))
    return rows


@register("surviving_states", "discrete", "E[K_t] = Σ_i (1 − [P^t]_{c_i, 0}), exact (M+1)-state transition matrices")
def surviving_states(scale: Scale) -> list[Row]:
    p0 = discrete.initial_distribution("zipf:1.1", 40)
    samples, generations = 200, 100
    r = _run(p0, scale, 2000, samples=samples, generations=generations)
    ext = discrete.extinction_probabilities(p0, np.full(generations, samples))
    return [compare("discrete.surviving_states", f"E K_{t} (Zipf K=40, M=200)", r.metrics["surviving"][t],
                    np.sum(1 - ext[t])) for t in (5, 20, 100)]


@register("real_data_fixed_point", "discrete",
          "γ > 0: E Σp² → [(1−1/M)(1−(1−γ)²)F_0 + 1/M] / [1 − (1−1/M)(1−γ)²]")
def real_data_fixed_point(scale: Scale) -> list[Row]:
    samples, gamma = 50, 0.1
    r = _run(P4, scale, 4000, samples=samples, generations=200, gamma=gamma)
    f = 1 - r.metrics["gini_simpson"]
    pred = 1 - discrete.gini_simpson_expected(P4, np.full(200, samples), gamma)
    return [
        compare("discrete.real_data_fixed_point", "E Σp²_10 (recursion, γ=0.1)", f[10], pred[10]),
        compare("discrete.real_data_fixed_point", "E Σp²_200 → F* (γ=0.1, M=50)", f[200],
                discrete.gini_simpson_fixed_point(P4, samples, gamma)),
    ]


@register("accumulate_martingale", "discrete", "accumulate and accumulate-subsample keep E[p_t] = p_0")
def accumulate_martingale(scale: Scale) -> list[Row]:
    rows = []
    for workflow in ("accumulate", "accumulate-subsample"):
        r = _run(P4, scale, 2000, samples=30, generations=30, workflow=workflow)
        rows.append(compare("discrete.accumulate_martingale", f"E p_3,30 ({workflow})", r.final["p"][:, 3], P4[3]))
    return rows



