"""Exact log-Gamma draws (Marsaglia–Tsang), in log form so tiny χ² variates never underflow.

Built for lockstep batches (vmap, or explicitly batched lanes): every lane makes a fixed number of
vectorised Marsaglia–Tsang attempts; the rare lanes that rejected all of them continue their *own*
sequence of attempts in a loop entered only when some lane needs it. A lane's attempts are i.i.d.
(attempt r of lane (key, node) is a Threefry hash of (key; node, stream r)), and the value returned
is the first accepted one, so the law is exactly Marsaglia–Tsang's whatever the number of up-front
attempts. No gathers: the first accepted attempt is picked by a chain of selects.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .threefry import bits_to_unit, fine_unit, threefry2x32

# Rounds of Marsaglia–Tsang attempts drawn up front by default. At the shapes of a d = 10, M = 100
# chain (a ≈ 45–50) an attempt is rejected with probability 6e-4, so two rounds leave ~4e-7 of the
# lanes to the loop; at a ≈ 1 it is 0.048 (the worst case). See ``default_rounds``.
_MT_ROUNDS = 2
# Attempts after which a lane gives up and returns NaN. Each attempt is accepted with probability
# > 0.95 for every shape, so a lane reaches this with probability < 0.05**64 ≈ 5e-84: the cap exists so
# that no input (NaN, inf) can keep the loop running, never to shape the law.
MAX_ATTEMPTS = 64
# Threefry streams (the second counter word). Stream 0 is left to callers (wishart's normals);
# attempt r uses stream 1 + r; the U^{1/a} boost for a < 1 uses BOOST_STREAM.
_FIRST_ATTEMPT_STREAM = 1
BOOST_STREAM = 0x3FFFFFFF


def rejection_probability(a: float) -> float:
    """An upper bound on Marsaglia–Tsang's rejection probability at shape ``a`` (measured, 2e6 draws
    per shape, rounded up): used only to choose how many attempts to draw up front."""
    for bound, p in ((2.0, 0.05), (5.0, 0.02), (20.0, 0.007), (50.0, 0.0016)):
        if a < bound:
            return p
    return 7e-4


def default_rounds(lanes: int, min_shape: float) -> int:
    """Up-front rounds R (1 ≤ R ≤ 6) minimising the expected number of full-width passes: R, plus
    about 1.5 for each loop trip (one more attempt for every lane, inside a while loop); trip k runs
    when some of the ``lanes`` draws rejected R + k − 1 times, probability ≈ min(1, lanes·p^{R+k−1}).
    Speed only: the law does not depend on R."""
    p = rejection_probability(min_shape)

    def passes(r):
        return r + 1.5 * sum(min(1.0, lanes * p ** (r + k)) for k in range(MAX_ATTEMPTS))

    return min(range(1, 7), key=passes)


def uniform_pair(k0, k1, node, stream, dtype) -> tuple[jax.Array, jax.Array]:
    """Two independent uniforms on (0, 1) per lane, a pure function of (k0, k1; node, stream).

    float32: the two words of one Threefry-2x32 call; float64: two calls (streams 2s and 2s + 1
    of the same node), 52 bits each (:func:`threefry.fine_unit`)."""
    dtype = jnp.dtype(dtype)
    node = jnp.asarray(node, jnp.uint32)
    stream = jnp.asarray(stream, jnp.uint32)
    if dtype == jnp.float64:
        a0, a1 = threefry2x32(k0, k1, node, stream * jnp.uint32(2))
        b0, b1 = threefry2x32(k0, k1, node, stream * jnp.uint32(2) + jnp.uint32(1))
        return fine_unit(a0, a1, dtype), fine_unit(b0, b1, dtype)
    w0, w1 = threefry2x32(k0, k1, node, stream)
    return bits_to_unit(w0, dtype), bits_to_unit(w1, dtype)


def normal_from_unit(u: jax.Array) -> jax.Array:
    """Standard normals from uniforms on (0, 1) by inversion: √2 erf⁻¹(2u − 1). For u from
    :func:`uniform_pair`, 2u − 1 is exact and never ±1, so every normal is finite."""
    return jnp.sqrt(jnp.asarray(2.0, u.dtype)) * jax.lax.erf_inv(2.0 * u - 1.0)


def _log1p_minus_x(e: jax.Array, log1p_e: jax.Array) -> jax.Array:
    """log(1 + e) − e without cancellation for small |e| (series below 0.1, ``log1p_e`` − e above)."""
    small = jnp.abs(e) < 0.1
    es = jnp.where(small, e, 0.0)
    series = jnp.full_like(es, 1.0 / 9.0)  # -e^2/2 + e^3/3 - ... + e^9/9 by Horner
    for k in range(8, 1, -1):
        series = ((-1.0) ** (k + 1)) / k + es * series
    series = es * es * series
    return jnp.where(small, series, log1p_e - e)


class _Shape:
    """Per-lane constants of Marsaglia–Tsang for shape a (a < 1 runs at a + 1 and is boosted)."""

    def __init__(self, a: jax.Array):
        self.a = a
        b = jnp.where(a < 1, a + 1, a)
        self.dd = b - 1.0 / 3.0
        self.c = 1.0 / jnp.sqrt(9.0 * self.dd)
        self.log_dd = jnp.log(self.dd)

    def attempt(self, v: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One attempt from a normal v and a uniform u: (accepted, log of the proposed Gamma(b))."""
        cv = self.c * v
        ok_pos = cv > -1.0
        cvs = jnp.where(ok_pos, cv, 0.0)
        e = cvs * (3.0 + cvs * (3.0 + cvs))  # (1 + cv)^3 - 1, exactly expanded
        log_x3 = 3.0 * jnp.log1p(cvs)  # log(1 + e)
        # accept iff log U < v^2/2 + dd (1 - x^3 + log x^3), with x^3 = 1 + e and U = 1 - u on (0, 1)
        accept = ok_pos & (jnp.log1p(-u) < 0.5 * v * v + self.dd * _log1p_minus_x(e, log_x3))
        return accept, self.log_dd + log_x3


def loggamma_lanes(k0, k1, node, a, dtype, rounds: int = _MT_ROUNDS) -> jax.Array:
    """log Gamma(a, 1), exact, for a batch of lanes: lane i's draw is a pure function of
    (k0[i], k1[i], node[i]) (all broadcast against ``a``). Returned in log form (never underflows).

    ``rounds`` attempts are made by every lane at once; lanes that rejected all of them continue with
    attempts rounds, rounds + 1, ... of their own sequence in a loop that runs only while some lane
    is still rejecting (see the module docstring for why the law is exact). Lanes whose shape is not
    a finite positive number return NaN at once."""
    dtype = jnp.dtype(dtype)
    a = jnp.asarray(a, dtype)
    shape = jnp.broadcast_shapes(jnp.shape(a), jnp.shape(node), jnp.shape(k0), jnp.shape(k1))
    node = jnp.broadcast_to(jnp.asarray(node, jnp.uint32), shape)
    k0 = jnp.broadcast_to(jnp.asarray(k0, jnp.uint32), shape)
    k1 = jnp.broadcast_to(jnp.asarray(k1, jnp.uint32), shape)
    # The shape's constants and tests at the shape's own size (often one per row, shared by every lane).
    valid_a = jnp.isfinite(a) & (a > 0)
    a = jnp.where(valid_a, a, 1.0)
    needs_boost = jnp.any(valid_a & (a < 1))
    mt = _Shape(a)
    valid = jnp.broadcast_to(valid_a, shape)

    def attempt(r):
        u_v, u = uniform_pair(k0, k1, node, _FIRST_ATTEMPT_STREAM + r, dtype)
        return mt.attempt(normal_from_unit(u_v), u)

    # A lane's value is NaN until one of its attempts is accepted (an accepted value is finite), so
    # one array carries both: a separate ``done`` mask would be a second output of the fused
    # attempts, which XLA:CPU computes in a second loop, drawing every attempt twice.
    value = jnp.where(valid, jnp.nan, 0.0).astype(dtype)
    for r in range(rounds):  # select the first accepted attempt: a chain of selects, no gather
        acc, val = attempt(jnp.uint32(r))
        value = jnp.where(jnp.isnan(value) & acc, val, value)

    def cond(s):
        r, value = s
        return jnp.any(jnp.isnan(value)) & (r < MAX_ATTEMPTS)

    def body(s):
        r, value = s
        acc, val = attempt(r)
        return r + jnp.uint32(1), jnp.where(jnp.isnan(value) & acc, val, value)

    _, value = jax.lax.while_loop(cond, body, (jnp.uint32(rounds), value))

    def boost(value):
        _, u_boost = uniform_pair(k0, k1, node, BOOST_STREAM, dtype)
        return jnp.where(a < 1, value + jnp.log(u_boost) / a, value)

    # The U^{1/a} boost (Gamma(a) = Gamma(a + 1) U^{1/a}) only costs a draw when some lane needs it.
    value = jax.lax.cond(needs_boost, boost, lambda v: v, value)
    return jnp.where(valid, value, jnp.nan)


def key_words(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The two uint32 words of a Threefry key (typed or raw), broadcast over any batch shape."""
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    if data.shape[-1] != 2:
        raise ValueError("the Gaussian samplers need Threefry-2x32 keys (jax_default_prng_impl='threefry2x32')")
    return data[..., 0].astype(jnp.uint32), data[..., 1].astype(jnp.uint32)


def loggamma(key: jax.Array, a: jax.Array, rounds: int = _MT_ROUNDS) -> jax.Array:
    """Exact log of Gamma(a, 1) draws, any shape ``a`` > 0 (Marsaglia & Tsang 2000, with the
    U^{1/a} boost for a < 1), one draw per element of ``a`` from one key. Returned in log form so
    tiny draws never underflow."""
    a = jnp.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.float32)
    k0, k1 = key_words(key)
    node = jnp.arange(a.size, dtype=jnp.uint32).reshape(a.shape)
    return loggamma_lanes(k0, k1, node, a, a.dtype, rounds)
