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

import math

import jax
import jax.numpy as jnp

from .gamma import _MT_ROUNDS, key_words, loggamma_lanes, normal_from_unit, uniform_pair

# Threefry stream of the Bartlett normals (the χ² attempts use streams ≥ 1, see gamma.py).
_NORMAL_STREAM = 0


def _lanes(a: jax.Array, nb: int) -> jax.Array:
    """Append ``nb`` unit axes so a per-matrix constant broadcasts against trailing lane axes."""
    return jnp.reshape(a, jnp.shape(a) + (1,) * nb)


def _strict_lower_rows(tri: jax.Array, d: int, extra: jax.Array | None = None) -> jax.Array:
    """(d(d−1)/2, *lanes) values, row by row, into the strict lower triangle of (d, d, *lanes): static
    slices and one concatenation (no scatter, no gather, no matmul). ``extra`` (n, *lanes) values are
    appended as further rows of width d (zero-padded), so they leave the same concatenation."""
    lanes = tri.shape[1:]
    rows = []
    for i in range(d):
        start = i * (i - 1) // 2
        pieces = [tri[start:start + i]] if i else []
        pieces.append(jnp.zeros((d - i,) + lanes, tri.dtype))
        rows.append(jnp.concatenate(pieces, axis=0))
    if extra is not None and extra.shape[0]:
        n = extra.shape[0]
        width = -(-n // d) * d
        padded = jnp.concatenate([extra, jnp.zeros((width - n,) + lanes, tri.dtype)], axis=0)
        rows.extend(padded.reshape((width // d, d) + lanes))
    return jnp.stack(rows, axis=0)


def bartlett_words(k0, k1, nu, d: int, dtype, extra_normals: int = 0, rounds: int = _MT_ROUNDS,
                   full_rank: bool = False):
    """Bartlett factors of W_d(ν, I) for a batch of lanes, lane-minor layout.

    ``k0``, ``k1``: the two uint32 key words of each lane (any shape ``lanes``); ``nu``: a scalar or
    ``lanes``-shaped. Returns ``log_diag`` (d, *lanes) with ``log_diag[k] = ln √χ²_{ν−k}`` (0-based k;
    −inf where k ≥ ν), ``lower`` (d, d, *lanes) strictly lower-triangular N(0, 1) (zero in columns
    ≥ ν), and, when ``extra_normals`` = n > 0, ``extra`` (n, *lanes) further standard normals.
    ``full_rank=True`` promises ν ≥ d (every fit of the simulation has M ≥ d + 1) and skips the masks
    of the singular case (which XLA would otherwise evaluate inside the d³ update's loop).

    Every number is a pure function of the lane's key: normals are Threefry stream 0 (node = index of
    a pair of normals), the χ² draws are log-Gamma lanes (node = k), see :mod:`.gamma`. The lanes
    axes are last, so every operation vectorises across lanes.
    """
    dtype = jnp.dtype(dtype)
    k0 = jnp.asarray(k0, jnp.uint32)
    k1 = jnp.asarray(k1, jnp.uint32)
    lanes = jnp.broadcast_shapes(k0.shape, k1.shape, jnp.shape(nu))
    nb = len(lanes)
    k0, k1 = jnp.broadcast_to(k0, lanes), jnp.broadcast_to(k1, lanes)
    n_tri = d * (d - 1) // 2
    n_norm = extra_normals + n_tri
    if n_norm:
        pairs = (n_norm + 1) // 2
        node = _lanes(jnp.arange(pairs, dtype=jnp.uint32), nb)
        u0, u1 = uniform_pair(k0, k1, node, _NORMAL_STREAM, dtype)
        z = normal_from_unit(jnp.concatenate([u0, u1], axis=0)[:n_norm])
    else:
        z = jnp.zeros((0,) + lanes, dtype)
    extra, tri = z[:extra_normals], z[extra_normals:]
    # The triangle and the extra normals leave one concatenation, which XLA:CPU materialises: a
    # consumer that reads a normal several times (the mean update reads each of the d extra normals d
    # times) then loads it instead of re-evaluating erf⁻¹ in its own loop.
    stacked = _strict_lower_rows(tri, d, extra) if d > 1 or extra_normals else None
    if stacked is not None:
        lower = stacked[:d]
        extra = stacked[d:].reshape((-1,) + lanes)[:extra_normals]
    k = _lanes(jnp.arange(d, dtype=dtype), nb)
    nu = jnp.asarray(nu, dtype)
    node = _lanes(jnp.arange(d, dtype=jnp.uint32), nb)
    if stacked is None:
        lower = jnp.zeros((d, d) + lanes, dtype)
    if full_rank:
        log_g = loggamma_lanes(k0, k1, node, (nu - k) / 2.0, dtype, rounds)
        log_diag = 0.5 * (log_g + math.log(2.0))
    else:
        active = k < nu
        shape = jnp.where(active, (nu - k) / 2.0, 1.0)
        log_g = loggamma_lanes(k0, k1, node, shape, dtype, rounds)
        log_diag = jnp.where(active, 0.5 * (log_g + math.log(2.0)), -jnp.inf)
        col = _lanes(jnp.arange(d, dtype=dtype), nb)[None]
        lower = jnp.where(col < nu, lower, 0.0)
    if extra_normals:
        return log_diag, lower, extra
    return log_diag, lower


def bartlett(key: jax.Array, nu: jax.Array, d: int, dtype, extra_normals: int = 0, rounds: int = _MT_ROUNDS):
    """Bartlett factor of W_d(ν, I) for any ν ≥ 0 (singular when ν < d) from one key: returns
    ``(log_diag, lower)`` with ``log_diag[k] = ln √χ²_{ν−k}`` (0-based k; −inf where k ≥ ν) and ``lower``
    the strictly lower-triangular N(0,1) part (zero in columns ≥ ν). With ``extra_normals`` = n > 0
    also returns n further independent standard normals. (One lane of :func:`bartlett_words`.)
    """
    k0, k1 = key_words(key)
    return bartlett_words(k0, k1, nu, d, dtype, extra_normals, rounds)


def matmul_lanes(a: jax.Array, b: jax.Array) -> jax.Array:
    """(n, k, *lanes) @ (k, m, *lanes) -> (n, m, *lanes) as k broadcast multiply-adds, which XLA fuses
    into one loop vectorised across the trailing lane axes (a batched dot would put the lanes first
    and call a tiny GEMM per lane)."""
    out = a[:, 0:1] * b[0:1]
    for j in range(1, a.shape[1]):
        out = out + a[:, j:j + 1] * b[j:j + 1]
    return out


# unit_lower_update works on this many blocks of rows: its program grows with the number of blocks
# times d, its arithmetic with the block size (5 measured best at d = 10 and 50: one row per block
# made the d = 50 compile 3x longer for no speed).
ROW_BLOCKS = 5


def unit_lower_update(U: jax.Array, n_hat: jax.Array) -> jax.Array:
    """U (I + N̂) for U unit lower-triangular and N̂ strictly lower-triangular (zero on and above the
    diagonal), both (d, d, *lanes): again unit lower-triangular, with entries (i > j)

        U_ij + Σ_{j<k≤i} U_ik N̂_kj.

    Rows are taken in ROW_BLOCKS blocks; a block of rows < r needs only U's columns 1..r − 1 and N̂'s
    columns < r, so the products with U's zero upper triangle and the result's zero upper triangle
    are mostly left out: 0.44 d³ multiply-adds for large d against the dense product's d³
    (:func:`matmul_lanes`). Measured in the d = 10, M = 100 kernel: 1.1x faster on one device,
    1.2x with a device per core."""
    d = U.shape[0]
    lanes = U.shape[2:]
    nb = len(lanes)
    size = -(-d // ROW_BLOCKS)
    blocks = []
    for lo in range(0, d, size):
        hi = min(lo + size, d)
        acc = U[lo:hi, :hi]
        for k in range(1, hi):
            acc = acc + U[lo:hi, k:k + 1] * n_hat[k:k + 1, :hi]
        blocks.append(jnp.concatenate([acc, jnp.zeros((hi - lo, d - hi) + lanes, U.dtype)], axis=1))
    strict = _lanes(jnp.tril(jnp.ones((d, d), dtype=bool), -1), nb)
    return jnp.where(strict, jnp.concatenate(blocks, axis=0), _lanes(jnp.eye(d, dtype=U.dtype), nb))


def ldl_update(U: jax.Array, ell: jax.Array, log_diag: jax.Array, lower: jax.Array, log_div: jax.Array,
               mean: tuple[jax.Array, jax.Array] | None = None, full_rank: bool = False):
    """(U, ℓ) of L·B/√div for B = diag(e^{log_diag}) + lower. Shapes (d, d, *lanes) and (d, *lanes)
    (no lanes for one matrix).

    Singular L or B: a column j with ℓ_j or log_diag_j = −inf is zero in L·B (L's dead columns form a
    suffix; a dead column of B is zero below the diagonal), so it keeps ℓ'_j = −inf and gets U's
    column e_j. ``full_rank=True`` promises no such column and leaves out those masks (they would sit
    inside the d³ product's loop).

    With ``mean = (μ, w)`` also returns μ + L w = μ + U (e^ℓ ∘ w) (the sample mean μ + L z/√m for
    w = z/√m): (U, ℓ, μ')."""
    d = U.shape[0]
    nb = U.ndim - 2
    mask = _lanes(jnp.tril(jnp.ones((d, d), dtype=bool), -1), nb)
    ell_col, log_diag_col = ell, log_diag
    if not full_rank:
        dead = jnp.isneginf(ell + log_diag)
        ell_col, log_diag_col = jnp.where(dead, 0.0, ell), jnp.where(dead, 0.0, log_diag)
        mask = mask & ~dead[None]
    expo = jnp.where(mask, ell[:, None] - ell_col[None, :] - log_diag_col[None, :], 0.0)
    # N̂ = lower·e^{expo} (and e^ℓ w), written as a division: its last operation is then an expensive
    # one, which XLA:CPU materialises instead of fusing into (and recomputing in) the products
    # below, which read most elements several times. As expo → −∞, e^{−expo} → inf and N̂ → 0.
    n_hat = jnp.where(mask, lower, 0.0) / jnp.exp(-expo)
    U_new = unit_lower_update(U, n_hat)
    if not full_rank:
        U_new = jnp.where(dead[None], _lanes(jnp.eye(d, dtype=U.dtype), nb), U_new)
    ell_new = ell + log_diag - 0.5 * log_div
    if mean is not None:
        return U_new, ell_new, mean[0] + matmul_lanes(U, (mean[1] / jnp.exp(-ell))[:, None])[:, 0]
    return U_new, ell_new


def scaled_factor(U: jax.Array, ell: jax.Array, s: jax.Array) -> jax.Array:
    """L·e^{−s} = U diag(e^{ℓ−s}) (lanes, if any, trailing)."""
    return U * jnp.exp(ell - s)[None]


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


def lower_factor(a: jax.Array) -> jax.Array:
    """Lower-triangular F (d × d) with F Fᵀ = a aᵀ for a (d × k), k ≥ d: the L of an LQ factorisation
    by Householder reflections applied from the right (diagonal signs arbitrary).

    Plain array code (d unrolled steps of O(d·k)), no LAPACK call: the Gaussian kernels must not
    contain LAPACK custom calls (see ``gaussian._make_metrics`` on the hang they caused)."""
    d, k = a.shape
    cols = jnp.arange(k)
    for i in range(d):
        x = jnp.where(cols >= i, a[i], 0.0)
        norm = jnp.sqrt(jnp.sum(x * x))
        alpha = jnp.where(x[i] < 0, norm, -norm)  # x − alpha e_i without cancellation
        v = x - alpha * (cols == i).astype(a.dtype)
        vv = jnp.sum(v * v)
        scale = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        # rows above i are already zero in columns ≥ i, so the reflection leaves them unchanged
        a = a - (a @ v)[:, None] * (scale * v)[None, :]
    return jnp.tril(a[:, :d])


def cholesky_lower(a: jax.Array) -> jax.Array:
    """Lower Cholesky factor of a symmetric positive definite d × d matrix, in plain array code (d
    unrolled outer-product steps; no LAPACK call, see :func:`lower_factor`)."""
    d = a.shape[0]
    idx = jnp.arange(d)
    out = jnp.zeros_like(a)
    for j in range(d):
        col = jnp.where(idx >= j, a[:, j], 0.0) * jax.lax.rsqrt(a[j, j])
        out = jnp.where(idx[None, :] == j, col[:, None], out)
        a = a - col[:, None] * col[None, :]
    return out


def pooled_factor(stack: jax.Array) -> jax.Array:
    """Lower-triangular F with F Fᵀ = stack·stackᵀ (d × k stack, k ≥ d)."""
    return lower_factor(stack)


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
