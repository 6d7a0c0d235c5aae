"""Exact log-Gamma draws (Marsaglia–Tsang), in log form so tiny χ² variates never underflow."""

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
