"""Exact Gaussian-fit numerics: log-gamma, Bartlett–Wishart factors and the log-scale LDLᵀ state.

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

# Rounds of Marsaglia–Tsang proposals drawn up front; lanes that reject all of them continue in a
# (rarely entered) while loop, so the law stays exact.
_MT_ROUNDS = 2


def _log1p_minus_x(e: jax.Array) -> jax.Array:
    """log(1 + e) − e without cancellation for small |e| (series below 0.1, direct above)."""
    small = jnp.abs(e) < 0.1
    es = jnp.where(small, e, 0.0)
    series = jnp.full_like(es, 1.0 / 9.0)  # -e^2/2 + e^3/3 - ... + e^9/9 by Horner
    for k in range(8, 1, -1):
        series = ((-1.0) ** (k + 1)) / k + es * series
    series = es * es * series
    el = jnp.where(small, 0.0, e)
    direct = jnp.log1p(el) - el
    return jnp.where(small, series, direct)


def _normals_from_uniforms(u: jax.Array) -> jax.Array:
    """Standard normals from uniforms on [0, 1) by inversion (as jax.random.normal does)."""
    lo = jnp.nextafter(jnp.asarray(-1.0, u.dtype), jnp.asarray(0.0, u.dtype))
    return jnp.sqrt(jnp.asarray(2.0, u.dtype)) * jax.lax.erf_inv(jnp.maximum(2.0 * u - 1.0, lo))


def _mt_accept(v, u, a):
    """Marsaglia–Tsang for shape b = a (a ≥ 1) or a + 1 (a < 1): (accepted, log value)."""
    b = jnp.where(a < 1, a + 1, a)
    dd = b - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * dd)
    cv = c * v
    ok_pos = cv > -1.0
    cvs = jnp.where(ok_pos, cv, 0.0)
    e = cvs * (3.0 + cvs * (3.0 + cvs))  # (1 + cv)^3 - 1, exactly expanded
    # accept iff log U < v^2/2 + dd (1 - x^3 + log x^3), with x^3 = 1 + e
    accept = ok_pos & (jnp.log1p(-u) < 0.5 * v * v + dd * _log1p_minus_x(e))
    return accept, jnp.log(dd) + 3.0 * jnp.log1p(cvs)


def _loggamma_from(key_more, a, v, u, u_boost):
    """First accepted of the given proposals v, u (rounds × shape); lanes with none continue in a
    while loop on fresh proposals from ``key_more`` (rarely entered), so the law is exact."""
    acc, val = _mt_accept(v, u, a)
    first = jnp.argmax(acc, axis=0)
    value = jnp.take_along_axis(val, first[None], axis=0)[0]
    done = jnp.any(acc, axis=0)

    def cond(s):
        return jnp.any(~s[1])

    def body(s):
        i, done, value = s
        kv, ku = jax.random.split(jax.random.fold_in(key_more, i))
        acc1, val1 = _mt_accept(jax.random.normal(kv, a.shape, a.dtype), jax.random.uniform(ku, a.shape, a.dtype), a)
        take = ~done & acc1
        return i + 1, done | acc1, jnp.where(take, val1, value)

    _, _, value = jax.lax.while_loop(cond, body, (jnp.uint32(0), done, value))
    return jnp.where(a < 1, value + jnp.log1p(-u_boost) / a, value)


def loggamma(key: jax.Array, a: jax.Array, rounds: int = _MT_ROUNDS) -> jax.Array:
    """Exact log of Gamma(a, 1) draws, any shape ``a`` > 0 (Marsaglia & Tsang 2000, with the
    U^{1/a} boost for a < 1). Returned in log form so tiny draws never underflow."""
    a = jnp.asarray(a)
    k_main, k_more = jax.random.split(key)
    n = a.size
    u = jax.random.uniform(k_main, (2 * rounds + 1, n), a.dtype).reshape((2 * rounds + 1,) + a.shape)
    v = _normals_from_uniforms(u[:rounds])
    return _loggamma_from(k_more, a, v, u[rounds:2 * rounds], u[2 * rounds])


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
    """(U, ℓ) of L·B/√div for B = diag(e^{log_diag}) + lower (nonsingular B)."""
    expo = ell[:, None] - ell[None, :] - log_diag[None, :]
    mask = jnp.tril(jnp.ones_like(U, dtype=bool), -1)
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
