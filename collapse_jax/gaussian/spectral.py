"""Singular values of many small matrices at once, in pure array code (no LAPACK call).

Used for the Gaussian family's spectral metrics: W₂ needs the nuclear norm of Σ₀^{1/2}L and the extreme
eigenvalues of Σ = L Lᵀ are the squared extreme singular values of L = U diag(e^ℓ), whose ℓ may
span thousands of e-folds (a collapsed chain), far beyond any floating-point range.

**Algorithm.** One-sided (Hestenes) Jacobi on the columns of A = B diag(e^g), each column carried as
a direction b_j and a log-scale g_j, so A itself is never formed and nothing under- or overflows.
Each rotation makes two columns orthogonal; in scaled form, with unit b_i, b_j, cosine γ = b_iᵀb_j,
g_i ≥ g_j and ρ = e^{g_j − g_i} ≤ 1, the usual Jacobi angle t = tan θ is t = ρτ with

    η = (ρ² − 1)/(2γ),   τ = sign(η)/(|η| + √(ρ² + η²)),   c = 1/√(1 + t²),
    b_i ← c (b_i − ρ t b_j),   b_j ← c (τ b_i + b_j)        (scales g unchanged),

which is the rotation of a_i = e^{g_i} b_i, a_j = e^{g_j} b_j written without e^{g_i − g_j}; as ρ → 0
it becomes a Gram–Schmidt step. Pairs are visited in the round-robin (circle) order, d/2 disjoint
pairs per round, so every round is one vectorised operation over (rows, pairs, *lanes) with the
lanes (chains) as the last, fastest axis; d − 1 rounds (d even) make a sweep and return the columns
to their places. No gathers: the round-robin shift is slices and a concatenation.

**Convergence and error.** A pair is rotated when |γ| > tol, tol = 4√n·ε (n rows; ε the dtype's
machine epsilon, above the rounding noise of a computed cosine). A lane has converged after a sweep
that rotated nothing: then every pair of columns has |cos| ≤ tol at once, so A = Q̂ D with D the
column norms and Q̂ᵀQ̂ = I + E, |E_ij| ≤ tol, and by Ostrowski's theorem each singular value is a
column norm times a factor in [√(1 − (d−1)tol), √(1 + (d−1)tol)]: relative error ≤ (d − 1)·tol plus
rounding. One-sided Jacobi is accurate in this relative sense for column-scaled matrices (Demmel &
Veselić 1992): the bound does not depend on the spread of g. The loop runs while some lane has not
converged, at most ``max_sweeps`` sweeps (it always ends); a lane still rotating after that returns
NaN, never an unconverged number. Cyclic Jacobi converges quadratically; at d ≤ 50 lanes need
2–9 sweeps in the tests.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

MAX_SWEEPS = 40


def tolerance(rows: int, dtype) -> float:
    """The rotation threshold on |cos| between two columns: 4√rows·ε."""
    return 4.0 * max(rows, 1) ** 0.5 * float(jnp.finfo(dtype).eps)


def sum_leading(a: jax.Array, axes: int = 1) -> jax.Array:
    """Σ over the first ``axes`` axes as a product with a vector of ones: one dot (GEMV) across all
    lanes. XLA:CPU's reduction over leading axes measured ~10× slower for lanes-last arrays, and
    unrolled adds get fused into, and recomputed by, every consumer."""
    k = math.prod(a.shape[:axes])
    return jnp.tensordot(jnp.ones((k,), a.dtype), a.reshape((k,) + a.shape[axes:]), axes=1)


def max_leading(a: jax.Array) -> jax.Array:
    """Maximum over axis 0 (a few rows) as unrolled maxima."""
    out = a[0]
    for k in range(1, a.shape[0]):
        out = jnp.maximum(out, a[k])
    return out


_sum0 = sum_leading


def _any0(a: jax.Array) -> jax.Array:
    """Logical or over axis 0 (a few rows) as unrolled ors."""
    out = a[0]
    for k in range(1, a.shape[0]):
        out = out | a[k]
    return out


def _normalise(b: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Move each column's norm into its log-scale; returns (b, g, squared norms: 1, or 0 for a zero
    column, which stays zero with its scale unchanged)."""
    nrm2 = _sum0(b * b)
    ok = nrm2 > 0
    safe = jnp.where(ok, nrm2, 1.0)
    return (b * jnp.where(ok, jax.lax.rsqrt(safe), 0.0)[None], g + jnp.where(ok, 0.5 * jnp.log(safe), 0.0),
            ok.astype(b.dtype))


def _rotate(top, g_top, n_top, bot, g_bot, n_bot, tol):
    """One round: rotate the column pairs (top[:, k], bot[:, k]) for every k and every lane at once.

    ``n_top``, ``n_bot`` are the squared norms of the b-columns (exact at the start of a sweep,
    updated by the rotation identities ‖a_i'‖² = ‖a_i‖² − tγ, ‖a_j'‖² = ‖a_j‖² + tγ). All the
    arithmetic that depends on which column has the larger scale is on per-pair scalars; the columns
    themselves get two multiply-adds each. Returns the new columns, norms and which pairs rotated."""
    gam = _sum0(top * bot)
    big_top = g_top >= g_bot
    n_i = jnp.where(big_top, n_top, n_bot)
    n_j = jnp.where(big_top, n_bot, n_top)
    rotate = jnp.abs(gam) > tol * jnp.sqrt(n_i * n_j)
    rho = jnp.exp(-jnp.abs(g_top - g_bot))
    rho2 = rho * rho
    eta = (rho2 * n_j - n_i) / (2.0 * jnp.where(rotate, gam, 1.0))
    tau = jnp.where(eta >= 0, 1.0, -1.0) / (jnp.abs(eta) + jnp.sqrt(rho2 + eta * eta))
    tau = jnp.where(rotate, tau, 0.0)
    t = rho * tau
    c = jax.lax.rsqrt(1.0 + t * t)
    # b_i' = c (b_i − ρ t b_j),  b_j' = c (τ b_i + b_j)
    keep_i, mix_i = c, -c * rho * t
    keep_j, mix_j = c, c * tau
    c_tt = jnp.where(big_top, keep_i, keep_j)
    c_tb = jnp.where(big_top, mix_i, mix_j)
    c_bt = jnp.where(big_top, mix_j, mix_i)
    c_bb = jnp.where(big_top, keep_j, keep_i)
    new_top = c_tt[None] * top + c_tb[None] * bot
    new_bot = c_bt[None] * top + c_bb[None] * bot
    d_i, d_j = -rho2 * tau * gam, tau * gam
    n_top = n_top + jnp.where(big_top, d_i, d_j)
    n_bot = n_bot + jnp.where(big_top, d_j, d_i)
    return new_top, n_top, new_bot, n_bot, rotate


def _shift(top, bot):
    """The round-robin step of the circle method: column 0 of ``top`` stays, the others move one
    place round the cycle top[1:] -> ... -> bot -> top[1:] (period 2m − 1 for m pairs)."""
    m = top.shape[1]
    new_top = jnp.concatenate([top[:, :1], bot[:, :1], top[:, 1:m - 1]], axis=1)
    new_bot = jnp.concatenate([bot[:, 1:], top[:, m - 1:]], axis=1)
    return new_top, new_bot


def log_singular_values(b: jax.Array, g: jax.Array, *, max_sweeps: int = MAX_SWEEPS, tol: float | None = None,
                        return_sweeps: bool = False):
    """log σ_k of A = b·diag(e^g) for b (n, d, *lanes) and g (d, *lanes), n ≥ 1, d ≥ 1.

    Returns (d, *lanes) log singular values in no particular order (−inf for a zero column of a
    rank-deficient A is possible only if b has an exactly zero column); NaN in lanes that had not
    converged after ``max_sweeps`` sweeps. With ``return_sweeps`` also the number of sweeps run."""
    b = jnp.asarray(b)
    dtype = b.dtype
    g = jnp.asarray(g, dtype)
    n, d = b.shape[:2]
    lanes = b.shape[2:]
    tol = tolerance(n, dtype) if tol is None else tol
    if d == 1:
        out = _normalise(b, g)[1]
        nrm = _sum0(b * b)
        out = jnp.where(nrm > 0, out, -jnp.inf)
        return (out, jnp.int32(0)) if return_sweeps else out
    dp = d + (d % 2)
    if dp != d:  # odd d: one zero column, never rotated (its norm is 0), dropped at the end
        b = jnp.concatenate([b, jnp.zeros((n, 1) + lanes, dtype)], axis=1)
        g = jnp.concatenate([g, jnp.zeros((1,) + lanes, dtype)], axis=0)
    m = dp // 2
    rounds = dp - 1

    def one_round(_, s):
        top, g_top, n_top, bot, g_bot, n_bot, moved = s
        top, n_top, bot, n_bot, rot = _rotate(top, g_top, n_top, bot, g_bot, n_bot, tol)
        moved = moved | _any0(rot)
        if m > 1:
            top, bot = _shift(top, bot)
            (g_top, n_top), (g_bot, n_bot) = zip(*[_shift(a[None], b[None]) for a, b in ((g_top, g_bot), (n_top, n_bot))])
            g_top, n_top, g_bot, n_bot = g_top[0], n_top[0], g_bot[0], n_bot[0]
        return top, g_top, n_top, bot, g_bot, n_bot, moved

    def sweep(s):
        k, _, b, g = s
        b, g, nrm = _normalise(b, g)  # exact norms (1, or 0 for the padding) at the start of a sweep
        cols = (b[:, :m], g[:m], nrm[:m], b[:, m:], g[m:], nrm[m:], jnp.zeros(lanes, bool))
        top, g_top, _, bot, g_bot, _, moved = jax.lax.fori_loop(0, rounds, one_round, cols)
        return k + 1, moved, jnp.concatenate([top, bot], axis=1), jnp.concatenate([g_top, g_bot], axis=0)

    def cond(s):
        k, moved, _, _ = s
        return (k < max_sweeps) & jnp.any(moved)

    init = (jnp.int32(0), jnp.ones(lanes, bool), b, g)
    sweeps, moved, b, g = jax.lax.while_loop(cond, sweep, init)
    b, g = b[:, :d], g[:d]
    nrm2 = _sum0(b * b)
    out = jnp.where(nrm2 > 0, g + 0.5 * jnp.log(jnp.where(nrm2 > 0, nrm2, 1.0)), -jnp.inf)
    out = jnp.where(moved[None], jnp.nan, out)
    return (out, sweeps) if return_sweeps else out


def logsumexp0(x: jax.Array) -> jax.Array:
    """log Σ_k e^{x_k} over axis 0, safe for −inf entries."""
    top = max_leading(x)
    safe = jnp.where(jnp.isfinite(top), top, 0.0)
    return safe + jnp.log(sum_leading(jnp.exp(x - safe[None])))


__all__ = ["log_singular_values", "tolerance", "logsumexp0", "sum_leading", "max_leading", "MAX_SWEEPS"]
