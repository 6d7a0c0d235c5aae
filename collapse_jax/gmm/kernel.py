"""The GMM family's kernel: a Gaussian mixture refitted by EM to data drawn from its last fit.

Pure and batched over chains (axis 0 of every leaf). The state before generation 0 is each chain's
fit to its real data (the paper's generation 0: row 0 of the metrics); process generation i draws
M_i points from alpha_i * (current fit) + gamma_i * (the chain's real data, resampled) and fits
the next mixture (row i + 1) on them (``replace``), on every point drawn so far together with the
real data (``accumulate``), or on M_i points drawn without replacement from that pool
(``accumulate-subsample``). Each fit starts from k-means++ (a fresh fit, the notebook's) or from
the previous mixture (``warm``).

The fit is an iteration whose length differs from chain to chain, so the kernel is an
:class:`~collapse_jax.core.kernel.IterativeKernel`: ``begin`` draws the data and seeds the fit,
``tick`` advances every chain's fit by one k-means or EM step (:func:`.em.tick`), ``end`` keeps
the finished mixture. The synchronous ``step`` ticks until every chain is done; the asynchronous
driver lets each chain move on as soon as its own fit is.

Buffers: one fit's data are ``fit_points`` columns (the largest M_i; the pool's length under
accumulate) of which the first n are valid; the pool holds the real data and then every
generation's points in order, ``pool_points`` = n_real + sum M_i + max M_i columns (the slack lets
every generation write a whole buffer of draws; columns past the pool's size are masked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ..core.kernel import IterativeKernel, Params, select_column
from ..core.streams import stream
from . import em
from .em import GMM

ACCUMULATING = ("accumulate", "accumulate-subsample")


class State(NamedTuple):
    model: GMM  # (C, K), (C, K, d), (C, K, d, d) the current fit
    origin: GMM  # the generation-0 fit (to real data), the L2 distance's reference
    loglik: jax.Array  # (C,) mean log-likelihood of the current fit on its training data
    iterations: jax.Array  # (C,) EM iterations of the current fit
    converged: jax.Array  # (C,) bool
    real: jax.Array  # (C, d, n_real) the chain's own real data (presets mixing in real data), else (C, d, 0)
    pool: jax.Array  # (C, d, pool_points) every point so far (accumulate workflows), else (C, d, 0)


class Work(NamedTuple):
    X: jax.Array  # (C, d, fit_points) the fit's data (accumulate: the pool itself)
    n: jax.Array  # (C,) valid columns of X
    fit: em.Fit  # the fit in progress
    pool: jax.Array  # (C, d, pool_points) the pool with this generation's points (accumulate-subsample)


def _mask(n, length: int) -> jax.Array:
    return jnp.arange(length) < n


def _x_axes(x) -> dict[str, int | None]:
    """vmap axes of this generation's inputs: scalars are shared, (C,) arrays are per chain."""
    return {k: (0 if jnp.ndim(v) else None) for k, v in x.items()}


@dataclass(frozen=True)
class GMMKernel(IterativeKernel):
    """Static configuration of the recursion (sizes, workflow, EM settings, precision)."""

    components: int = 2
    dims: int = 2
    real_points: int = 1000  # n_real: the real data each chain's generation-0 fit sees
    fit_points: int = 1000  # columns of one fit's data buffer
    draw_points: int = 1000  # points drawn per generation (the largest M_i)
    pool_points: int = 0  # columns of the pool (accumulate workflows), else 0
    workflow: str = "replace"
    init: str = "kmeans++"
    uses_gamma: bool = False
    own_real: bool = True  # each chain draws its real data from params['true'] (presets), else params['real']
    settings: em.Settings = em.Settings()
    dtype: str = "float32"

    name: ClassVar[str] = "gmm"
    chain_axis: ClassVar[int] = 0

    @property
    def fdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    @property
    def block_work(self) -> int:
        """Chain-generations per block of the synchronous driver: a few seconds of EM on a CPU."""
        return max(1, (1 << 19) // self.fit_points)

    def _true(self, params: Params) -> GMM:
        return GMM(*(jnp.asarray(a, self.fdt) for a in params.get("true")))

    # ---- the state before generation 0: each chain's fit to its real data ----

    def start(self, keys_C: jax.Array, params: Params) -> State:
        K, d, n_real = self.components, self.dims, self.real_points
        split_C = jax.vmap(jax.random.split)(stream(keys_C, "initial"))
        k_data_C, k_init_C = split_C[:, 0], split_C[:, 1]
        C = keys_C.shape[0]
        if self.own_real:
            true = self._true(params)
            real_C = jax.vmap(lambda k: em.sample_dN(k, true, n_real))(k_data_C)
        else:
            real_C = jnp.broadcast_to(jnp.asarray(params.get("real"), self.fdt), (C, d, n_real))
        mask = jnp.ones((n_real,), bool)
        fit = jax.vmap(lambda k, X: em.begin_kmeans(k, X, mask, K, self.settings))(k_init_C, real_C)
        work = Work(real_C, jnp.full((C,), n_real, jnp.int32), fit, jnp.zeros((C, d, 0), self.fdt))
        work = self._iterate(work, kmeans=True)
        keep_real = self.uses_gamma and self.own_real
        pool = jnp.zeros((C, d, self.pool_points if self.workflow in ACCUMULATING else 0), self.fdt)
        if pool.shape[-1]:
            pool = pool.at[:, :, :n_real].set(real_C)
        fitted = self._fitted(work)
        return State(fitted.gmm, fitted.gmm, fitted.loglik, fitted.iterations, fitted.converged,
                     real_C if keep_real else jnp.zeros((C, d, 0), self.fdt), pool)

    # ---- one generation ----

    def begin(self, keys_C, state: State, params: Params, x) -> Work:
        x = select_column(x, params)
        real_shared = None if self.own_real else jnp.asarray(params.get("real"), self.fdt)
        K, n_real, P = self.components, self.real_points, self.pool_points

        def one(key, model, real, pool, x):
            k_sample, k_mix, k_pick, k_init = jax.random.split(key, 4)
            new_dN = em.sample_dN(k_sample, model, self.draw_points)
            if self.uses_gamma:
                source = real if self.own_real else real_shared
                from_real = jax.random.uniform(k_mix, (self.draw_points,), self.fdt) < x["gamma"]
                pick = jax.random.randint(k_pick, (self.draw_points,), 0, n_real)
                new_dN = jnp.where(from_real[None, :], source[:, pick], new_dN)
            m = x["m"].astype(jnp.int32)
            empty = pool[:, :0]
            if self.workflow == "replace":
                X, n, kept = new_dN, m, empty
            else:
                size = n_real + x["pool"].astype(jnp.int32)  # the pool's size with this generation's points
                pool = jax.lax.dynamic_update_slice(pool, new_dN, (0, size - m))
                if self.workflow == "accumulate":
                    X, n, kept = pool, size, empty
                else:  # a uniform subset of m without replacement: the m smallest of i.i.d. uniforms
                    u = jax.random.uniform(stream(key, "subsample"), (P,), self.fdt)
                    _, idx = jax.lax.top_k(-jnp.where(jnp.arange(P) < size, u, 2.0), self.fit_points)
                    X, n, kept = pool[:, idx], m, pool
            mask = _mask(n, self.fit_points)
            if self.init == "warm":
                fit = em.begin_warm(model, self.fit_points, self.settings)
            else:
                fit = em.begin_kmeans(k_init, X, mask, K, self.settings)
            return Work(X, n, fit, kept)

        return jax.vmap(one, in_axes=(0, 0, 0, 0, _x_axes(x)))(keys_C, state.model, state.real, state.pool, x)

    def _tick(self, work: Work, kmeans: bool) -> Work:
        def one(fit, X, n):
            return em.tick(fit, X, _mask(n, X.shape[-1]), self.settings, kmeans)

        return work._replace(fit=jax.vmap(one)(work.fit, work.X, work.n))

    def _iterate(self, work: Work, kmeans: bool) -> Work:
        return jax.lax.while_loop(lambda w: ~jnp.all(self.finished(w)), lambda w: self._tick(w, kmeans), work)

    def tick(self, work: Work, params: Params) -> Work:
        return self._tick(work, self.init != "warm")

    def finished(self, work: Work) -> jax.Array:
        return em.finished(work.fit)

    def _fitted(self, work: Work) -> em.EMFit:
        return em.result(work.fit)

    def end(self, work: Work, state: State, params: Params) -> State:
        fit = self._fitted(work)
        if self.workflow == "accumulate":
            pool = work.X
        elif self.workflow == "accumulate-subsample":
            pool = work.pool
        else:
            pool = state.pool
        return state._replace(model=fit.gmm, loglik=fit.loglik, iterations=fit.iterations,
                              converged=fit.converged, pool=pool)

    # ---- what is recorded ----

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        held_dN = jnp.asarray(params.get("held"), self.fdt)
        K = self.components

        def one(model: GMM, origin: GMM):
            order = jnp.argsort(-model.weights)
            std = em.component_std(model)[order]
            out = {"l2": em.l2_squared(origin, model), "real_loglik": em.mean_loglik_dN(model, held_dN)}
            for k in range(K):
                out[f"weight_{k}"] = model.weights[order[k]]
                out[f"std_{k}"] = std[k]
            return out

        out = jax.vmap(one)(state.model, state.origin)
        return {"l2": out.pop("l2"), "loglik": state.loglik, "real_loglik": out.pop("real_loglik"),
                "iterations": state.iterations.astype(self.fdt), "converged": state.converged.astype(self.fdt),
                **out}

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return dict(state.model._asdict())


def metric_names(components: int) -> list[str]:
    return (["l2", "loglik", "real_loglik", "iterations", "converged"] + [f"weight_{k}" for k in range(components)]
            + [f"std_{k}" for k in range(components)])


__all__ = ["GMMKernel", "State", "Work", "metric_names", "ACCUMULATING"]
