"""Exact Gaussian-fit numerics: Bartlett–Wishart factors and the log-scale LDLᵀ state.

Everything here works on ONE chain (vmap adds the chain axis) and is exact in law; the only error is
floating-point rounding.

**State.** A covariance is carried as Σ = U diag(e^{2ℓ}) Uᵀ with U unit lower-triangular and ℓ the
log of the Cholesky diagonal, i.e. the Cholesky factor is L = U diag(e^ℓ). A collapsing Gaussian has
ℓ → −∞ at rates that differ between coordinates; in this form every entry stays finite (ℓ is a
log, U converges), where Σ or L themselves would underflow below 1e-38 (float32) or 1e-308.

**Bartlett update.** The fitted scatter of M points is S = L B Bᵀ Lᵀ with B lower-triangular,
B_kk = √χ²_{ν−k+1}, B_kl ~ N(0,1) (k > l), ν = M − 1. The new factor L' = L B/√div is lower-triangular
already (no Cholesky of a collapsing matrix), and in (U, ℓ) form

    ℓ'_k = ℓ_k + ln B_kk − ½ ln div,       U' = U (I + N̂),   N̂_kj = e^{ℓ_k − ℓ_j − ln B_jj} B_kj (k > j).

Since ℓ_k − ℓ_j drifts to −∞ for k > j (the later Cholesky coordinates decay faster), N̂ → 0 and
U converges; exp of a very negative number is 0, never NaN. ln B_kk comes straight from a log-gamma
sampler, so χ² draws never underflow either.

**Pooling** (mixing with real data, accumulate): groups' (count, mean, scatter factor) combine by the
parallel-axis formula; the pooled factor is the R of a QR of the stacked factors (never forming
and re-factorising S), computed after scaling by the largest e^ℓ so nothing under/overflows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .gamma import _MT_ROUNDS, _loggamma_from, _normals_from_uniforms


def _tril_embedding(d: int, dtype) -> jax.Array:
    """Constant one-hot (d(d−1)/2, d·d) matrix placing a vector in the strict lower triangle (a
    matmul, much faster under vmap than a scatter)."""
    import numpy as np

    rows, cols = np.tril_indices(d, -1)
    E = np.zeros((rows.size, d * d))
    E[np.arange(rows.size), rows * d + cols] = 1.0
    return jnp.asarray(E, dtype)


def bartlett(key: jax.Array, nu: jax.Array, d: int, dtype, extra_normals: int = 0):
    """Bartlett factor of W_d(ν, I) for any ν ≥ 0 (singular when ν < d): returns ``(log_diag, lower)``
    with ``log_diag[k] = ln √χ²_{ν−k}`` (0-based k; −inf where k ≥ ν) and ``lower`` the strictly
    lower-triangular N(0,1) part (zero in columns ≥ ν). With ``extra_normals`` = n > 0 also returns n
    further independent standard normals (one random draw serves all).
    """
    n_tri = d * (d - 1) // 2
    R = _MT_ROUNDS
    n_norm = extra_normals + n_tri + R * d
    n_unif = R * d + d
    k_main, k_more = jax.random.split(key)
    u = jax.random.uniform(k_main, (n_norm + n_unif,), dtype)
    z = _normals_from_uniforms(u[:n_norm])
    extra, tri, v = z[:extra_normals], z[extra_normals:extra_normals + n_tri], z[extra_normals + n_tri:]
    uu = u[n_norm:]
    k = jnp.arange(d, dtype=dtype)
    nu = jnp.asarray(nu, dtype)
    active = k < nu
    shape = jnp.where(active, (nu - k) / 2.0, 1.0)
    log_chi2 = _loggamma_from(k_more, shape, v.reshape(R, d), uu[:R * d].reshape(R, d), uu[R * d:])
    log_diag = jnp.where(active, 0.5 * (log_chi2 + jnp.log(jnp.asarray(2.0, dtype))), -jnp.inf)
    if n_tri:
        lower = (tri @ _tril_embedding(d, dtype)).reshape(d, d)
    else:
        lower = jnp.zeros((d, d), dtype)
    lower = jnp.where(jnp.arange(d)[None, :] < nu, lower, 0.0)
    if extra_normals:
        return log_diag, lower, extra
    return log_diag, lower


def ldl_update(U: jax.Array, ell: jax.Array, log_diag: jax.Array, lower: jax.Array,
               log_div: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(U, ℓ) of L·B/√div for B = diag(e^{log_diag}) + lower. Singular L or B: a column j with ℓ_j or
    log_diag_j = −inf is zero in L·B (L's dead columns form a suffix; a dead column of B is zero below
    the diagonal), so it keeps ℓ'_j = −inf and gets U's column e_j."""
    dead = jnp.isneginf(ell + log_diag)
    expo = ell[:, None] - jnp.where(dead, 0.0, ell)[None, :] - jnp.where(dead, 0.0, log_diag)[None, :]
    mask = jnp.tril(jnp.ones_like(U, dtype=bool), -1) & ~dead[None, :]
    n_hat = jnp.where(mask, jnp.exp(jnp.where(mask, expo, 0.0)) * lower, 0.0)
    U_new = U + U @ n_hat
    d = U.shape[0]
    U_new = jnp.where(mask, U_new, jnp.eye(d, dtype=U.dtype))
    return U_new, ell + log_diag - 0.5 * log_div


def scaled_factor(U: jax.Array, ell: jax.Array, s: jax.Array) -> jax.Array:
    """L·e^{−s} = U diag(e^{ℓ−s})."""
    return U * jnp.exp(ell - s)[None, :]


def from_factor(F: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(U, ℓ) of the lower-triangular factor e^s·F (any signs on F's diagonal).

    A zero pivot (a singular fit, possible only for exactly degenerate data) gets ℓ = ln(tiny)
    and a unit column, so nothing downstream becomes NaN."""
    diag = jnp.diagonal(F)
    tiny = jnp.finfo(F.dtype).tiny
    mag = jnp.abs(diag)
    safe = mag > tiny
    sign = jnp.where(diag < 0, -1.0, 1.0).astype(F.dtype)
    U = F * (sign / jnp.where(safe, mag, 1.0))[None, :]
    d = F.shape[0]
    eye = jnp.eye(d, dtype=F.dtype)
    U = jnp.where(safe[None, :], U, eye)
    U = jnp.where(jnp.tril(jnp.ones((d, d), dtype=bool), -1), U, eye)
    ell = jnp.log(jnp.maximum(mag, tiny)) + s
    return U, ell


def pooled_factor(stack: jax.Array) -> jax.Array:
    """Lower-triangular F with F Fᵀ = stack·stackᵀ, from the QR of stackᵀ (d × k stack, k ≥ d)."""
    r = jnp.linalg.qr(stack.T, mode="r")
    return r[: stack.shape[0], :].T


def pool(counts: jax.Array, means: jax.Array, factors: jax.Array, s: jax.Array):
    """Pool groups g with sizes counts[g], means[g] (d,) and scatter factors e^s·factors[g] (d×d):

        n = Σ n_g,   m = Σ n_g m_g / n,   S = Σ S_g + Σ n_g (m_g − m)(m_g − m)ᵀ.

    Returns (n, m, U, ℓ) with S = U diag(e^{2ℓ}) Uᵀ. Empty groups (n_g = 0) contribute nothing."""
    counts = counts.astype(means.dtype)
    n = jnp.sum(counts)
    w = counts / jnp.maximum(n, 1.0)
    m = jnp.sum(w[:, None] * means, axis=0)
    dev = (means - m[None, :]) * jnp.sqrt(counts)[:, None] * jnp.exp(-s)
    d = means.shape[1]
    stack = jnp.concatenate([jnp.concatenate(list(factors), axis=1), dev.T], axis=1)
    U, ell = from_factor(pooled_factor(stack), s)
    return n, m, U, ell
