"""Counter-based uniforms: every draw is a pure function of (lane key, node, attempt)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), elementwise with per-lane keys.

    Equal to ``jax.random.threefry_2x32`` for a scalar key; here keys broadcast like the counters,
    so each lane (chain, tree node, attempt) hashes its own counter under its own chain's key.
    """
    u32 = jnp.uint32
    k0, k1, x0, x1 = (jnp.asarray(a, u32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for r in range(20):
        rot = _ROTATIONS[r % 8]
        x0 = x0 + x1
        x1 = (x1 << u32(rot)) | (x1 >> u32(32 - rot))
        x1 = x1 ^ x0
        if r % 4 == 3:
            s = r // 4 + 1
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + u32(s)
    return x0, x1


def bits_to_unit(bits, dtype):
    """uint32 -> uniform on the open interval (0, 1): (k + 1/2)·2⁻²³ for the top 23 bits k in float32,
    (k + 1/2)·2⁻³² for all 32 in float64; every value is exact, so neither end is reached (BTRS
    divides by 0.5 - |u - 0.5| and takes log v). With 24 bits in float32, k + 1/2 = 2²⁴ − 1/2 rounds
    to 2²⁴ and the top word gave u = 1 exactly."""
    if jnp.dtype(dtype) == jnp.float64:
        return (bits.astype(jnp.float64) + 0.5) * 2.0**-32
    return ((bits >> jnp.uint32(9)).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-23)


def fine_unit(y0, y1, dtype):
    """The finest uniform on (0, 1) one 64-bit Threefry output gives in ``dtype``: 52 bits in
    float64 ((j + 1/2) 2^-52, so 1.0 is never reached), 23 bits in float32. Inversion uses it, so
    its cells are as small as the dtype allows."""
    if jnp.dtype(dtype) == jnp.float64:
        hi = (y0 >> jnp.uint32(12)).astype(jnp.float64)
        return (hi * 2.0**32 + y1.astype(jnp.float64)) * 2.0**-52 + 2.0**-53
    return bits_to_unit(y0, dtype)


def key_words(keys) -> tuple[jax.Array, jax.Array]:
    """The two uint32 words of each Threefry key in a typed key array (any shape)."""
    kd = jax.random.key_data(keys).astype(jnp.uint32)
    return kd[..., 0], kd[..., -1]


class LaneUniforms:
    """Uniform pairs for a batch of lanes, addressed by (key0, key1, node) per lane and the attempt
    (the Poisson family's PTRS draws with these)."""

    def __init__(self, key0_L, key1_L, node_L, dtype):
        self.key0, self.key1, self.node, self.dtype = key0_L, key1_L, node_L, dtype

    def pair(self, attempt, index=None):
        k0, k1, node = (self.key0, self.key1, self.node) if index is None else (
            self.key0[index], self.key1[index], self.node[index])
        y0, y1 = threefry2x32(k0, k1, node, jnp.broadcast_to(jnp.asarray(attempt, jnp.uint32), node.shape))
        return bits_to_unit(y0, self.dtype), bits_to_unit(y1, self.dtype)
