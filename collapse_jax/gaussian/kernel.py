"""The Gaussian family's kernels: one chain's generation step, vmapped over chains.

Two exact samplers of one law share the state, the metrics and the contract:

- :class:`StatsKernel` draws the sufficient statistics (sample mean ~ N, scatter ~ Wishart by the
  Bartlett construction), so its cost does not depend on M; the Cholesky factor is carried in the
  log-scale LDLᵀ form of :mod:`collapse_jax.samplers.wishart` and never re-factorised.
- :class:`PointsKernel` draws the M points explicitly (cost ∝ M): it also serves a non-Gaussian
  D_0 (Student-t, a mixture, a data array), the accumulate-subsample workflow, the coordinate-wise
  median as the location estimate, and singular fits (M ≤ d: rank ≤ M − 1, ℓ_k = −inf on the dead
  Cholesky columns).

The state per chain is (μ, U, ℓ) with Σ = U diag(e^{2ℓ}) Uᵀ, plus the explicit pool of points for
accumulate-subsample. Per-generation inputs (the table) carry M, the estimator's divisor and the
mixing weights, so grid points that differ in schedule, estimator or mixing run as lanes of one
compiled kernel. The stats kernel carries its state lanes-last (chains the last axis), the points
kernel chain-major; the metrics work lanes-last.

**No LAPACK call in a kernel.** The spectral metrics used ``jnp.linalg.eigvalsh`` (three batched
``syevd`` custom calls) inside the scanned block, and that hung forever (issue 15 item 2): jaxlib's
batched LAPACK kernels split a large batch into chunks on XLA:CPU's intra-op thread pool and block
their own pool thread in ``ParallelBatchMap`` until the chunks finish, while XLA's thunk executor
runs independent custom calls concurrently on that same pool. When as many blocking eigen-solves
as the pool has threads start together (two on a 2-core machine), every pool thread waits for
chunks no free thread is left to run (thread dumps: both ``tf_XLAEigen`` threads in
``lapack_ssyevd_ffi`` → ``ParallelBatchMap`` → ``BlockingCounter::Wait``, the main thread in the
``np.asarray`` of the block's metrics). It needs a batch large enough to be split and a race,
hence its dependence on the shape and the load. Every factorisation here is plain array code (the
Jacobi SVD of :mod:`.spectral`, ``wishart.cholesky_lower`` / ``lower_factor``), so it cannot
happen; ``test_kernels_contain_no_lapack_call`` keeps it so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.kernel import Kernel, Params, select_column
from ..samplers import wishart
from ..samplers.gamma import default_rounds, key_words
from . import spectral
from .original import draw_original


class State(NamedTuple):
    """Per-chain state in the kernel's layout: chain-major ((C, d), (C, d, d), (C, d), (C, P, d)) for
    the points kernel, lanes-last ((d, C), (d, d, C), (d, C), (P, d, C)) for the stats kernel."""

    mean: jax.Array  # μ
    unit_lower: jax.Array  # U, unit lower-triangular
    log_chol_diag: jax.Array  # ℓ, the log of the Cholesky diagonal
    pool: jax.Array  # the pooled points (accumulate-subsample); P = 0 otherwise


SPECTRAL = ("w2", "log_eig_max", "log_eig_min")
# spectral_every='log' (the default): every generation up to SPECTRAL_DENSE, then SPECTRAL_PER_OCTAVE
# per doubling, and the last. At d = 10 one exact Jacobi SVD costs 5-7x a whole generation step,
# so computing it every generation would make the default run 4-5x slower (benchmarks/README.md).
SPECTRAL_DENSE = 16
SPECTRAL_PER_OCTAVE = 4
# The log-spaced generations live in a fixed-length table (one compiled program for every run
# length): 16·2^(k/4) for k ≤ 128 reaches past 2³¹, the engine's largest generation.
_LOG_TABLE = 128


def log_spaced_generations() -> np.ndarray:
    """The generations past SPECTRAL_DENSE that spectral_every='log' computes: ⌈16·2^{k/4}⌉, k ≥ 1
    (clipped at int32's largest)."""
    k = np.arange(1, _LOG_TABLE + 1, dtype=np.float64)
    g = np.ceil(SPECTRAL_DENSE * 2.0 ** (k / SPECTRAL_PER_OCTAVE))
    return np.minimum(g, np.iinfo(np.int32).max).astype(np.int64)


def spectral_rows(spectral_every: "int | str", last: int) -> np.ndarray:
    """Boolean mask over generations 0..last: where the spectral metrics are computed."""
    rows = np.arange(last + 1)
    if spectral_every == "log":
        todo = (rows <= SPECTRAL_DENSE) | np.isin(rows, log_spaced_generations())
    elif int(spectral_every) == 0:
        return np.zeros(last + 1, bool)
    else:
        todo = rows % int(spectral_every) == 0
    todo[last] = True
    return todo


def covariance_of(U: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Σ = U diag(e^{2ℓ}) Uᵀ on the host in float64 (underflows where Σ itself does)."""
    U = np.asarray(U, np.float64)
    L = U * np.exp(np.asarray(ell, np.float64))[..., None, :]
    return L @ np.swapaxes(L, -1, -2)


def ldl_of(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U, ℓ) of a positive-definite covariance."""
    L = np.linalg.cholesky(cov)
    diag = np.diagonal(L, axis1=-2, axis2=-1)
    return L / diag[..., None, :], np.log(diag)


def reference(mean0: np.ndarray, cov0: np.ndarray) -> dict[str, np.ndarray]:
    """D_0's Gaussian fit in the forms the kernels use (``chol_t`` = L₀ᵀ for W₂'s nuclear norm)."""
    U0, ell0 = ldl_of(cov0)
    return {"mean": mean0, "cov": cov0, "trace": np.trace(cov0), "sigma": np.sqrt(cov0[0, 0]), "U": U0,
            "ell": ell0, "ell_max": ell0.max(), "chol_t": np.linalg.cholesky(cov0).T}


def is_isotropic(cov0: np.ndarray) -> bool:
    """Σ₀ = cI: then ‖L₀ᵀL‖_* = √c‖L‖_* and one singular-value decomposition serves W₂ and the
    eigenvalues."""
    cov0 = np.asarray(cov0)
    return bool(np.all(cov0 == cov0[0, 0] * np.eye(cov0.shape[0])))


def chi2_rounds(chains: int, d: int, smallest_m: float) -> int:
    """Up-front Marsaglia–Tsang rounds for ``chains`` Bartlett draws whose smallest χ² shape is
    (M − d)/2 at the run's smallest M (speed only)."""
    return default_rounds(max(int(chains), 1) * d, max((float(smallest_m) - d) / 2.0, 0.5))


def _x_axes(x) -> dict[str, int | None]:
    """vmap axes of this generation's inputs: scalars are shared, (C,) arrays are per chain."""
    return {k: (0 if jnp.ndim(v) else None) for k, v in x.items()}


def _lanes(a: jax.Array, nb: int = 1) -> jax.Array:
    return jnp.reshape(a, jnp.shape(a) + (1,) * nb)


def cheap_metrics(ref, d, mu, U, ell) -> dict[str, jax.Array]:
    """Metrics of lanes-last states ((d, C), (d, d, C), (d, C)) that need no decomposition."""
    dm = mu - _lanes(ref["mean"])
    s = spectral.max_leading(ell)
    K = wishart.scaled_factor(U, ell, s[None])
    ksq = spectral.sum_leading(K * K, 2)
    out = {
        "mean_sq": spectral.sum_leading(dm * dm),
        "logdet": 2.0 * spectral.sum_leading(ell),
        "trace": jnp.exp(2.0 * s) * ksq,
        "log_trace": 2.0 * s + jnp.log(ksq),
    }
    if d == 1:
        sigma = jnp.exp(ell[0])
        out["sigma"] = sigma
        out["w2"] = out["mean_sq"] + (sigma - ref["sigma"]) ** 2
    return out


def spectral_metrics(ref, d, isotropic, U, ell, mean_sq, trace) -> dict[str, jax.Array]:
    """W₂² and ln λ_max, ln λ_min of Σ = L Lᵀ, L = U diag(e^ℓ), lanes-last, by the log-scaled Jacobi
    SVD of :mod:`.spectral` (no LAPACK call: see the module docstring on the hang that caused).

    ln λ_max, ln λ_min are twice the extreme ln σ of L; W₂² = ‖μ − μ₀‖² + tr Σ + tr Σ₀ − 2‖L₀ᵀL‖_*
    (tr(Σ₀^{1/2} Σ Σ₀^{1/2})^{1/2} = ‖L₀ᵀL‖_*, the nuclear norm); for Σ₀ = cI that is √c‖L‖_*, so one
    decomposition serves all three, otherwise L and L₀ᵀL go through one call as a batch of two."""
    # a singular fit (points sampler, M ≤ d) has dead columns, ℓ_j = −inf: zero columns of L, which
    # Jacobi never rotates and reports as ln σ = −inf (so ln λ_min = −inf: λ_min = 0)
    dead = jnp.isneginf(ell)
    U, ell = jnp.where(dead[None], 0.0, U), jnp.where(dead, 0.0, ell)
    if isotropic:
        log_sv = spectral.log_singular_values(U, ell)
        log_nuc = jnp.log(ref["sigma"]) + spectral.logsumexp0(log_sv)
    else:
        LU = wishart.matmul_lanes(_lanes(ref["chol_t"]), U)
        both = spectral.log_singular_values(jnp.stack([U, LU], axis=2), jnp.stack([ell, ell], axis=1))
        log_sv, log_nuc = both[:, 0], spectral.logsumexp0(both[:, 1])
    bures = jnp.maximum(ref["trace"] + trace - 2.0 * jnp.exp(log_nuc), 0.0)
    return {"w2": mean_sq + bures, "log_eig_max": 2.0 * spectral.max_leading(log_sv),
            "log_eig_min": -2.0 * spectral.max_leading(-log_sv)}


def _materialise(x: dict, lanes: int) -> dict:
    """This generation's inputs as plain buffers. Each is a dynamic slice of the per-generation
    table (or a gather by lane in a sweep); XLA:CPU fuses such a slice into every loop that reads the
    value, and a loop with a dynamic slice in it no longer vectorises (the d³ update ran ~25× slower
    for one ``col < ν`` mask). A sort is never fused, so sorting the stacked inputs by their own
    (ordered) row index leaves them unchanged and materialised."""
    names = [k for k in x if k != "t"]
    shape = () if all(jnp.ndim(x[k]) == 0 for k in names) else (lanes,)
    vals = jnp.stack([jnp.broadcast_to(x[k], shape) for k in names])
    order = jax.lax.broadcasted_iota(jnp.int32, vals.shape, 0)
    _, vals = jax.lax.sort((order, vals), dimension=0, num_keys=1)
    return {**{k: vals[i] for i, k in enumerate(names)}, "t": x["t"]}


@dataclass(frozen=True)
class _GaussianKernel(Kernel):
    dim: int = 2
    dtype: str = "float32"
    workflow: str = "replace"
    uses_gamma: bool = False
    spectral_every: "int | str" = "log"
    isotropic_reference: bool = False

    name: ClassVar[str] = "gaussian"
    chain_axis: ClassVar[int] = 0

    @property
    def fdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    def _ref(self, params: Params) -> dict[str, jax.Array]:
        return {k: jnp.asarray(v, self.fdt) for k, v in params.get("ref").items()}

    def pool_length(self) -> int:
        return 0

    def init(self, params: Params, chains: int) -> State:
        ref = self._ref(params)
        d = self.dim
        state = State(jnp.broadcast_to(ref["mean"], (chains, d)), jnp.broadcast_to(ref["U"], (chains, d, d)),
                      jnp.broadcast_to(ref["ell"], (chains, d)),
                      jnp.zeros((chains, self.pool_length(), d), self.fdt))
        return state if self.chain_axis == 0 else State(*(jnp.moveaxis(a, 0, -1) for a in state))

    def step(self, keys_C, state: State, params: Params, x) -> State:
        """One chain's generation (``one``) vmapped over the chain axis of the kernel's layout."""
        x = select_column(x, params)
        ref = self._ref(params)
        x = {k: (v if k == "t" else jnp.asarray(v, self.fdt)) for k, v in x.items()}
        one = lambda key, mu, U, ell, pool, x: self.one(key, mu, U, ell, pool, x, ref, params)  # noqa: E731
        ax = self.chain_axis
        return State(*jax.vmap(one, in_axes=(0, ax, ax, ax, ax, _x_axes(x)), out_axes=ax)(keys_C, *state, x))

    def _to_lanes(self, a: jax.Array) -> jax.Array:
        """A state leaf in the lanes-last layout the metrics use."""
        return a if self.chain_axis == -1 else jnp.moveaxis(a, 0, -1)

    def _spectral_now(self, generation, last):
        every = self.spectral_every
        if every == "log":
            table = jnp.asarray(log_spaced_generations(), jnp.int32)
            return (generation <= SPECTRAL_DENSE) | jnp.any(table == generation) | (generation == last)
        return (generation % every == 0) | (generation == last)

    def observe(self, state: State, params: Params, generation) -> dict[str, jax.Array]:
        ref = self._ref(params)
        d, every = self.dim, self.spectral_every
        mu, U, ell = (self._to_lanes(a) for a in state[:3])
        out = cheap_metrics(ref, d, mu, U, ell)
        if d > 1 and every != 0:
            args = (U, ell, out["mean_sq"], out["trace"])
            run = lambda a: spectral_metrics(ref, d, self.isotropic_reference, *a)  # noqa: E731
            if every == 1:
                out.update(run(args))
            else:
                nan = jnp.full(jnp.shape(ell)[1:], jnp.nan, U.dtype)
                out.update(jax.lax.cond(self._spectral_now(generation, params.get("last")), run,
                                        lambda a: dict.fromkeys(SPECTRAL, nan), args))
        return out

    def snapshot(self, state: State) -> dict[str, jax.Array]:
        return {"mean": state.mean, "unit_lower": state.unit_lower, "log_chol_diag": state.log_chol_diag}

    def one(self, key, mu, U, ell, pool, x, ref, params):
        raise NotImplementedError


def chains_first(arrays: dict[str, np.ndarray], chain_axis: int, lead: int = 0) -> dict[str, np.ndarray]:
    """Host arrays of a kernel's layout (after ``lead`` leading axes) in the chain-major layout."""
    if chain_axis == 0:
        return dict(arrays)
    return {k: np.moveaxis(v, -1, lead) if v.ndim > lead else v for k, v in arrays.items()}


def _original_count(key, m, gamma, dtype):
    """How many of the m points come from D_0: Binomial(m, γ)."""
    return jax.random.binomial(key, m, jnp.asarray(gamma, dtype), dtype=dtype)


def _draw_model_group(key, mu, U, ell, n, s, d, dtype):
    """Sufficient statistics of n points from N(μ, Σ): (mean, scatter factor e^{-s}·F)."""
    log_b, lower, z = wishart.bartlett(key, n - 1.0, d, dtype, extra_normals=d)
    mean = mu + U @ (jnp.exp(ell) * z) / jnp.sqrt(jnp.maximum(n, 1.0))
    B = jnp.diag(jnp.exp(log_b)) + lower
    return mean, wishart.scaled_factor(U, ell, s) @ B


def _previous_group(U, ell, s, x):
    """The pooled data so far as a group (accumulate): its scatter factor e^{-s}·F."""
    return wishart.scaled_factor(U, ell, s) * jnp.where(x["n_prev"] > 0, jnp.exp(0.5 * x["log_div_prev"]), 0.0)


@dataclass(frozen=True)
class StatsKernel(_GaussianKernel):
    """The sufficient-statistic sampler (Gaussian D_0; replace or accumulate).

    Its state is carried lanes-last (chains the last, fastest axis), so the replace workflow without
    mixing runs as one explicitly batched Bartlett update: the Threefry hashes, the normals, the χ²
    attempts, the triangular update and the metrics all vectorise across chains (a vmap would put
    the chains first and vectorise over d only). Mixing and accumulate vmap one chain's step over
    the last axis. ``chi2_rounds``: Marsaglia–Tsang attempts drawn up front (speed only, the law
    does not depend on it; :func:`..samplers.gamma.default_rounds`)."""

    chi2_rounds: int = 2

    chain_axis: ClassVar[int] = -1

    def step(self, keys_C, state: State, params: Params, x) -> State:
        if self.workflow == "accumulate" or self.uses_gamma:
            return super().step(keys_C, state, params, x)
        mu, U, ell, pool = state
        C = int(keys_C.shape[0])
        x = select_column(x, params)
        x = _materialise({k: (v if k == "t" else jnp.asarray(v, self.fdt)) for k, v in x.items()}, C)
        k0, k1 = key_words(keys_C)
        # every fit has M ≥ d + 1 (check_sizes), so ν ≥ d: no singular-case masks in the d³ update
        log_b, lower, z = wishart.bartlett_words(k0, k1, x["nu"], self.dim, self.fdt, extra_normals=self.dim,
                                                 rounds=self.chi2_rounds, full_rank=True)
        U, ell, mu = wishart.ldl_update(U, ell, log_b, lower, x["log_div"], mean=(mu, z * x["inv_sqrt_m"]),
                                        full_rank=True)
        return State(mu, U, ell, pool)

    def one(self, key, mu, U, ell, pool, x, ref, params):
        d, dtype = self.dim, self.fdt
        accumulate = self.workflow == "accumulate"
        k_count, k_model, k_orig = jax.random.split(key, 3)
        m = x["m"]
        n_orig = _original_count(k_count, m, x["gamma"], dtype) if self.uses_gamma else jnp.zeros((), dtype)
        n_model = m - n_orig
        s = jnp.maximum(jnp.max(ell), ref["ell_max"])
        mean_a, F_a = _draw_model_group(k_model, mu, U, ell, n_model, s, d, dtype)
        counts, means, factors = [n_model], [mean_a], [F_a]
        if self.uses_gamma:
            mean_g, F_g = _draw_model_group(k_orig, ref["mean"], ref["U"], ref["ell"], n_orig, s, d, dtype)
            counts.append(n_orig), means.append(mean_g), factors.append(F_g)
        if accumulate:
            counts.append(x["n_prev"]), means.append(mu), factors.append(_previous_group(U, ell, s, x))
        _, mean, U2, ell2 = wishart.pool(jnp.stack(counts), jnp.stack(means), jnp.stack(factors), s)
        return mean, U2, ell2 - 0.5 * x["log_div"], pool


def _row_factor(rows):
    """Lower-triangular F with F Fᵀ = rowsᵀ rows for k × d rows, any k (zero rows pad k < d)."""
    k, d = rows.shape
    if k < d:
        rows = jnp.concatenate([rows, jnp.zeros((d - k, d), rows.dtype)])
    return wishart.pooled_factor(rows.T)


def _fit_points(pts, mask, s):
    """Mean and scatter factor e^{-s}·F of the masked rows of pts (M×d), by QR of the centred rows."""
    n = jnp.sum(mask)
    mean = jnp.sum(jnp.where(mask[:, None], pts, 0.0), axis=0) / n
    centred = jnp.where(mask[:, None], pts - mean, 0.0) * jnp.exp(-s)
    return n, mean, _row_factor(centred)


def masked_median(y, m):
    """Coordinate-wise sample median of the first m rows of y (rows × d): the middle order statistic
    for odd m, the mean of the two middle ones for even m."""
    rows = jnp.arange(y.shape[0])[:, None]
    srt = jnp.sort(jnp.where(rows < m, y, jnp.inf), axis=0)
    lo = jnp.floor((m - 1) / 2).astype(jnp.int32)
    hi = jnp.floor(m / 2).astype(jnp.int32)
    return 0.5 * (srt[lo] + srt[hi])


def _dead(ell, d, fitted):
    """Cholesky columns that are exactly zero after a fit to ``fitted`` points: k ≥ fitted − 1 (the
    centred points span at most fitted − 1 directions, and generic data fill the leading columns
    first) or already zero (the points lie in the span of the live columns)."""
    return (jnp.arange(d) >= fitted - 1) | jnp.isneginf(ell)


def _kill(U, ell, dead):
    """Set the dead columns exactly: ℓ = −inf, U's column = e_k (rounding leaves noise there)."""
    eye = jnp.eye(U.shape[0], dtype=U.dtype)
    return jnp.where(dead[None, :], eye, U), jnp.where(dead, -jnp.inf, ell)


@dataclass(frozen=True)
class PointsKernel(_GaussianKernel):
    """The explicit-points sampler: ``m_max`` points per chain and generation (rows past M_t are
    masked), any D_0, and an explicit pool of ``pool_len`` points for accumulate-subsample."""

    m_max: int = 1
    pool_len: int = 0
    original: str = "gaussian"
    df: float | None = None
    location: str = "mean"  # or "median": the coordinate-wise sample median
    singular: bool = False  # some fit has M ≤ d: QR scatter factors and exactly dead columns

    lane_params: ClassVar[tuple[str, ...]] = ()

    def pool_length(self) -> int:
        return self.pool_len

    def _draw_original(self, key, ref, params):
        return draw_original(self.original, self.df, params.get("original"), ref["mean"], key, self.m_max,
                             self.fdt)

    def _data_points(self, key, mu, U, ell, x, ref, params):
        """The m points of this generation (rows < m valid), in real coordinates."""
        k_count, k_model, k_orig = jax.random.split(key, 3)
        m = x["m"]
        dtype, d = self.fdt, self.dim
        n_orig = _original_count(k_count, m, x["gamma"], dtype) if self.uses_gamma else jnp.zeros((), dtype)
        n_orig = jnp.where(x["first"] > 0, m, n_orig)  # generation 0 fits real data only
        s = jnp.max(ell)
        z = jax.random.normal(k_model, (self.m_max, d), dtype)
        model = mu + jnp.exp(s) * (z * jnp.exp(ell - s)) @ U.T
        real = self._draw_original(k_orig, ref, params)
        return jnp.where((jnp.arange(self.m_max) < n_orig)[:, None], real, model)

    def _location(self, pts, m, mean):
        return masked_median(pts, m) if self.location == "median" else mean

    def _whitened(self, key, mu, U, ell, x):
        # M points x = μ + L z: the fit is μ + L z̄ and L·chol(Σ (z − z̄)(z − z̄)ᵀ)/√div, collapse-safe.
        d, dtype = self.dim, self.fdt
        z = jax.random.normal(key, (self.m_max, d), dtype)
        mask = jnp.arange(self.m_max) < x["m"]
        zbar = jnp.sum(jnp.where(mask[:, None], z, 0.0), axis=0) / x["m"]
        zc = jnp.where(mask[:, None], z - zbar, 0.0)
        if self.singular:  # Σ zcᵀzc has rank ≤ M − 1: its factor by QR, the dead columns exactly 0
            C = _row_factor(zc)
            C = C * jnp.where(jnp.diagonal(C) < 0, -1.0, 1.0)[None, :]
            dead = jnp.arange(d) >= x["m"] - 1
            log_b = jnp.where(dead, -jnp.inf, jnp.log(jnp.diagonal(C)))
            lower = jnp.where(dead[None, :], 0.0, jnp.tril(C, -1))
        else:
            C = wishart.cholesky_lower(zc.T @ zc)  # no LAPACK call in a kernel (see the module docstring)
            log_b, lower = jnp.log(jnp.diagonal(C)), jnp.tril(C, -1)
        if self.location == "median":  # coordinate j of L z is √Σ_jj · N(0, 1): the median needs the points
            mu = mu + masked_median((z * jnp.exp(ell)) @ U.T, x["m"])
        else:
            mu = mu + U @ (jnp.exp(ell) * zbar)
        U, ell = wishart.ldl_update(U, ell, log_b, lower, x["log_div"])
        return mu, U, ell

    def _general(self, key, mu, U, ell, x, ref, params):
        pts = self._data_points(key, mu, U, ell, x, ref, params)
        mask = jnp.arange(self.m_max) < x["m"]
        s = jnp.maximum(jnp.max(ell), ref["ell_max"])
        n, mean, F = _fit_points(pts, mask, s)
        fitted = x["m"]
        if self.workflow == "accumulate":
            _, mean, U2, ell2 = wishart.pool(jnp.stack([n, x["n_prev"]]), jnp.stack([mean, mu]),
                                             jnp.stack([F, _previous_group(U, ell, s, x)]), s)
            fitted = fitted + x["n_prev"]
        else:
            U2, ell2 = wishart.from_factor(F, s)
            mean = self._location(pts, x["m"], mean)
        if self.singular:
            U2, ell2 = _kill(U2, ell2, _dead(ell, self.dim, fitted))
        return mean, U2, ell2 - 0.5 * x["log_div"]

    def _subsample(self, key, mu, U, ell, pool, x, ref, params):
        k_data, k_pick = jax.random.split(key)
        pts = self._data_points(k_data, mu, U, ell, x, ref, params)
        start = x["n_prev"].astype(jnp.int32)
        pool = jax.lax.dynamic_update_slice(pool, pts, (start, jnp.zeros((), jnp.int32)))
        n_pool = x["n_prev"] + x["m"]
        # A uniform subset of size m without replacement: the m smallest of i.i.d. uniforms.
        u = jax.random.uniform(k_pick, (self.pool_len,), self.fdt)
        u = jnp.where(jnp.arange(self.pool_len) < n_pool, u, 2.0)
        _, idx = jax.lax.top_k(-u, self.m_max)
        s = jnp.maximum(jnp.max(ell), ref["ell_max"])
        mask = jnp.arange(self.m_max) < x["m"]
        _, mean, F = _fit_points(pool[idx], mask, s)
        mean = self._location(pool[idx], x["m"], mean)
        U2, ell2 = wishart.from_factor(F, s)
        return mean, U2, ell2 - 0.5 * x["log_div"], pool

    def one(self, key, mu, U, ell, pool, x, ref, params):
        if self.workflow == "accumulate-subsample":
            return self._subsample(key, mu, U, ell, pool, x, ref, params)
        if self.workflow == "replace" and not self.uses_gamma:
            if self.original == "gaussian":
                return (*self._whitened(key, mu, U, ell, x), pool)
            # real data at generation 0, collapse-safe whitened fits after
            out = jax.lax.cond(x["first"] > 0, lambda a: self._general(*a, ref, params),
                               lambda a: self._whitened(*a), (key, mu, U, ell, x))
            return (*out, pool)
        return (*self._general(key, mu, U, ell, x, ref, params), pool)


__all__ = ["StatsKernel", "PointsKernel", "State", "covariance_of", "ldl_of", "reference", "masked_median",
           "SPECTRAL", "spectral_rows", "chains_first", "is_isotropic", "chi2_rounds", "cheap_metrics",
           "spectral_metrics"]
