"""The linear-regression family's kernel: least squares refitted to its own labels.

A generation draws a design X (T_t × d; i.i.d. N(0, 1) entries, or the fixed design shared by all
chains), labels every row from the current model ŵ plus N(0, σ_t²) noise (a share γ_t of rows from
the true w* instead), and refits by least squares (ridge λ >= 0) on the generation's rows
(replace), on every row so far (accumulate: a running Gram matrix XᵀX and moment Xᵀy), or on T_t
rows drawn without replacement from that pool (accumulate-subsample: the rows themselves).

The state is kept relative to the truth, e = ŵ − w*, with residual labels r = y − Xw* = X e + σε
(0 + σε on a real row): ridge gives e' = (XᵀX + λI)⁻¹(Xᵀr − λw*), and the test error ‖e‖² is
computed without the cancellation of ‖ŵ − w*‖². The layout is per chain (vmapped), chain axis 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ..core.kernel import Kernel, Params, select_column


class State(NamedTuple):
    err: jax.Array  # (C, d) ŵ − w*
    gram: jax.Array  # (C, d, d) Σ XᵀX over the pool (accumulate), else (C, 0, 0)
    moment: jax.Array  # (C, d) Σ Xᵀr over the pool (accumulate), else (C, 0)
    pool_x: jax.Array  # (C, P, d) the pooled rows (accumulate-subsample), else (C, 0, d)
    pool_r: jax.Array  # (C, P) their residual labels, else (C, 0)


METRICS = ("test_error",)


@dataclass(frozen=True)
class RegressionKernel(Kernel):
    """Static configuration: dimension, precision, workflow, design, rows per generation (the
    largest T_t) and the pool length (accumulate-subsample)."""

    dim: int = 10
    dtype: str = "float32"
    workflow: str = "replace"
    uses_gamma: bool = False
    fixed_design: bool = False
    rows: int = 1
    pool_len: int = 0

    name: ClassVar[str] = "regression"
    lane_params: ClassVar[tuple[str, ...]] = ("ridge",)

    @property
    def fdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def init(self, params: Params, chains: int) -> State:
        d, acc, sub = self.dim, self.workflow == "accumulate", self.workflow == "accumulate-subsample"
        z = lambda *shape: jnp.zeros((chains, *shape), self.fdt)  # noqa: E731
        return State(z(d), z(d if acc else 0, d if acc else 0), z(d if acc else 0),
                     z(self.pool_len if sub else 0, d), z(self.pool_len if sub else 0))

    def step(self, keys_C, state: State, params: Params, x) -> State:
        x = select_column(x, params)
        C = keys_C.shape[0]
        per_chain = {k: jnp.broadcast_to(jnp.asarray(x[k]), (C,)) for k in ("m", "sigma", "gamma", "n_prev")}
        ridge = jnp.broadcast_to(jnp.asarray(params.get("ridge"), self.fdt), (C,))
        w_star = jnp.asarray(params.get("w_star"), self.fdt)
        design = jnp.asarray(params.get("design"), self.fdt)
        one = lambda key, s, xs, lam: self._one(key, s, xs, lam, w_star, design)  # noqa: E731
        return State(*jax.vmap(one)(keys_C, state, per_chain, ridge))

    def _one(self, key, s: State, xs, ridge, w_star, design) -> State:
        fdt, d, R = self.fdt, self.dim, self.rows
        k_x, k_noise, k_mix, k_pick = jax.random.split(key, 4)
        live = jnp.arange(R) < xs["m"]
        X = design if self.fixed_design else jax.random.normal(k_x, (R, d), fdt)
        X = jnp.where(live[:, None], X, 0.0)
        signal = X @ s.err
        if self.uses_gamma:  # a row is real (labelled by w*, residual 0 + noise) with probability γ
            signal = jnp.where(jax.random.uniform(k_mix, (R,), fdt) < xs["gamma"], 0.0, signal)
        r = jnp.where(live, signal + xs["sigma"].astype(fdt) * jax.random.normal(k_noise, (R,), fdt), 0.0)
        gram, moment, pool_x, pool_r = s.gram, s.moment, s.pool_x, s.pool_r
        if self.workflow == "replace":
            G, b = X.T @ X, X.T @ r
        elif self.workflow == "accumulate":
            gram, moment = gram + X.T @ X, moment + X.T @ r
            G, b = gram, moment
        else:  # the newest rows join the pool; T_t of the pool's rows are drawn without replacement
            start = xs["n_prev"].astype(jnp.int32)
            pool_x = jax.lax.dynamic_update_slice(pool_x, X, (start, jnp.zeros((), jnp.int32)))
            pool_r = jax.lax.dynamic_update_slice(pool_r, r, (start,))
            u = jax.random.uniform(k_pick, (self.pool_len,), fdt)
            u = jnp.where(jnp.arange(self.pool_len) < xs["n_prev"] + xs["m"], u, 2.0)
            idx = jax.lax.top_k(-u, R)[1]  # the T smallest of i.i.d. uniforms: a uniform subset
            Xs = jnp.where(live[:, None], pool_x[idx], 0.0)
            G, b = Xs.T @ Xs, Xs.T @ jnp.where(live, pool_r[idx], 0.0)
        err = jnp.linalg.solve(G + ridge * jnp.eye(d, dtype=fdt), b - ridge * w_star)
        return State(err, gram, moment, pool_x, pool_r)

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        return {"test_error": jnp.sum(state.err * state.err, axis=-1)}

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return {"err": state.err}


__all__ = ["RegressionKernel", "State", "METRICS"]
