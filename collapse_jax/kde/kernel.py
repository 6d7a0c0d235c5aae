"""The kernel-density family's kernel: a Gaussian KDE refitted to its own samples.

The model of generation t is the KDE (1/N) Σ_j N(x_j, H) of its N fitting points: the latest M_t
points (replace), every point so far (accumulate: the pool itself), or M_t points drawn without
replacement from the pool (accumulate-subsample). Sampling the next M points resamples a centre
uniformly and adds kernel noise L_H z; a share γ_t of them come from D_0 instead (all of them at
generation 0, whose model is D_0 itself). The kernel covariance H is h²I for a fixed bandwidth,
f(N)² I for ``scott``/``silverman`` (scikit-learn's KernelDensity: f = N^{−1/(d+4)},
(N(d+2)/4)^{−1/(d+4)}), or f(N)² times the points' unbiased covariance for ``scott-cov``/
``silverman-cov`` (scipy's gaussian_kde).

The state per chain keeps the centres, the fit's count, mean and scatter Σ(x − x̄)(x − x̄)ᵀ (for
accumulate merged batch by batch, never recomputed over the pool) and the kernel factor L_H, so
the KDE's covariance is scatter/N + L_H L_Hᵀ. Layout: per chain (vmapped), chain axis 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ..core.kernel import Kernel, Params, select_column
from ..gaussian.original import draw_original

RULES = ("fixed", "scott", "silverman", "scott-cov", "silverman-cov")
METRICS = ("variance", "mean_sq")


def rule_factor(rule: str, n, d: int):
    """The bandwidth factor f(N) of a data-driven rule (numpy or jax arrays)."""
    if rule.startswith("scott"):
        return n ** (-1.0 / (d + 4))
    return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))


class State(NamedTuple):
    centres: jax.Array  # (C, L, d) the KDE's centres (rows < count)
    pool: jax.Array  # (C, P, d) every point so far (accumulate-subsample), else (C, 0, d)
    count: jax.Array  # (C,) N, the number of fitting points
    mean: jax.Array  # (C, d) their mean (the KDE's mean)
    scatter: jax.Array  # (C, d, d) their scatter
    kchol: jax.Array  # (C, d, d) the kernel's Cholesky factor L_H


def _fit_stats(pts, live, n):
    mean = jnp.sum(jnp.where(live[:, None], pts, 0.0), axis=0) / n
    c = jnp.where(live[:, None], pts - mean, 0.0)
    return mean, c.T @ c


@dataclass(frozen=True)
class KDEKernel(Kernel):
    """Static configuration: dimension, precision, workflow, bandwidth rule, D_0's kind, the points
    drawn per generation (the largest M_t) and the pool length."""

    dim: int = 1
    dtype: str = "float32"
    workflow: str = "replace"
    uses_gamma: bool = False
    rule: str = "fixed"
    original: str = "gaussian"
    df: float | None = None
    m_max: int = 1
    pool_len: int = 0

    name: ClassVar[str] = "kde"
    lane_params: ClassVar[tuple[str, ...]] = ("bandwidth",)

    @property
    def fdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def init(self, params: Params, chains: int) -> State:
        d, fdt = self.dim, self.fdt
        ref = jnp.asarray(params.get("mean0"), fdt), jnp.asarray(params.get("cov0"), fdt)
        L = self.pool_len if self.workflow == "accumulate" else self.m_max
        P = self.pool_len if self.workflow == "accumulate-subsample" else 0
        # generation 0's model is D_0: count 1 with scatter cov0 and no kernel reads as Cov D_0
        return State(jnp.zeros((chains, L, d), fdt), jnp.zeros((chains, P, d), fdt), jnp.ones((chains,), fdt),
                     jnp.broadcast_to(ref[0], (chains, d)), jnp.broadcast_to(ref[1], (chains, d, d)),
                     jnp.zeros((chains, d, d), fdt))

    def step(self, keys_C, state: State, params: Params, x) -> State:
        x = select_column(x, params)
        C = keys_C.shape[0]
        per_chain = {k: jnp.broadcast_to(jnp.asarray(x[k]), (C,)) for k in ("m", "gamma", "n_prev", "first")}
        h = jnp.broadcast_to(jnp.asarray(params.get("bandwidth"), self.fdt), (C,))
        mean0 = jnp.asarray(params.get("mean0"), self.fdt)
        orig = params.get("original")
        one = lambda key, s, xs, hh: self._one(key, s, xs, hh, mean0, orig)  # noqa: E731
        return State(*jax.vmap(one)(keys_C, state, per_chain, h))

    def _one(self, key, s: State, xs, h, mean0, orig) -> State:
        fdt, d, R = self.fdt, self.dim, self.m_max
        k_pick, k_noise, k_real, k_mix, k_sub = jax.random.split(key, 5)
        pick = jnp.floor(jax.random.uniform(k_pick, (R,), fdt) * s.count).astype(jnp.int32)
        pick = jnp.minimum(pick, s.count.astype(jnp.int32) - 1)
        model = s.centres[pick] + jax.random.normal(k_noise, (R, d), fdt) @ s.kchol.T
        real = draw_original(self.original, self.df, orig, mean0, k_real, R, fdt)
        is_real = jnp.broadcast_to(xs["first"] > 0, (R,))
        if self.uses_gamma:
            is_real = is_real | (jax.random.uniform(k_mix, (R,), fdt) < xs["gamma"])
        pts = jnp.where(is_real[:, None], real, model)
        m = xs["m"].astype(fdt)
        live = jnp.arange(R) < xs["m"]
        start = xs["n_prev"].astype(jnp.int32)
        zero = jnp.zeros((), jnp.int32)
        pool = s.pool
        if self.workflow == "replace":
            centres, count = pts, m
            mean, scatter = _fit_stats(pts, live, m)
        elif self.workflow == "accumulate":  # the pool is the KDE; merge the batch's moments into it
            centres = jax.lax.dynamic_update_slice(s.centres, pts, (start, zero))
            n_old = xs["n_prev"].astype(fdt)
            count = n_old + m
            batch_mean, batch_scatter = _fit_stats(pts, live, m)
            delta = batch_mean - s.mean
            old = jnp.where(n_old > 0, s.scatter, 0.0)
            mean = jnp.where(n_old > 0, s.mean + delta * (m / count), batch_mean)
            scatter = old + batch_scatter + jnp.outer(delta, delta) * (n_old * m / count)
        else:  # accumulate-subsample: M_t of the pool's points, without replacement, are the KDE
            pool = jax.lax.dynamic_update_slice(s.pool, pts, (start, zero))
            u = jax.random.uniform(k_sub, (self.pool_len,), fdt)
            u = jnp.where(jnp.arange(self.pool_len) < xs["n_prev"] + xs["m"], u, 2.0)
            centres = pool[jax.lax.top_k(-u, R)[1]]
            count = m
            mean, scatter = _fit_stats(centres, live, m)
        eye = jnp.eye(d, dtype=fdt)
        if self.rule == "fixed":
            kchol = h * eye
        elif self.rule in ("scott", "silverman"):
            kchol = rule_factor(self.rule, count, d) * eye
        else:
            kchol = rule_factor(self.rule, count, d) * jnp.linalg.cholesky(scatter / (count - 1.0))
        return State(centres, pool, count, mean, scatter, kchol)

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        mean0 = jnp.asarray(params.get("mean0"), self.fdt)
        kernel_trace = jnp.sum(state.kchol * state.kchol, axis=(-2, -1))
        scatter_trace = jnp.trace(state.scatter, axis1=-2, axis2=-1)
        dm = state.mean - mean0
        return {"variance": scatter_trace / state.count + kernel_trace, "mean_sq": jnp.sum(dm * dm, axis=-1)}

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return {"mean": state.mean, "scatter": state.scatter, "count": state.count, "kchol": state.kchol}


__all__ = ["KDEKernel", "State", "RULES", "METRICS", "rule_factor"]
