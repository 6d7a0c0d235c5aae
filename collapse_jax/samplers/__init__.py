"""Exact discrete samplers that stay fast when batched over millions of lanes.

JAX's own ``binomial`` evaluates both of its algorithms for every lane and loops until the slowest
lane of the batch accepts; ``multinomial`` then calls it K times in sequence. Here:

- ``binomial`` uses inversion when the mean is small (n·min(p, 1-p) < 10) and Hörmann's BTRS
  otherwise; a batch skips the algorithm none of its lanes needs. After the first BTRS try, the
  lanes that rejected are compacted into a buffer half the batch and retried there. Every loop ends: lanes with p in {0, 1}
  or n = 0 are finished before the first iteration (the absorbed states of a collapsed chain).
- Uniforms come from a counter-based hash (Threefry-2x32) of (chain key, tree node, attempt), so
  every draw is addressable and no lane's randomness depends on the batch it sits in.
- ``multinomial`` draws conditional binomials, first over about sqrt(K) blocks of categories,
  then within all blocks at once (two ``lax.scan``s, each step batched over chains): about
  K + sqrt(K) binomials per chain, so its cost is O(K) and independent of n.
- ``multivariate_hypergeometric`` (drawing without replacement from a pool of counts) uses the
  same scan with exact hypergeometric splits.

Log-probabilities use Loader's saddle-point form (``stirlerr`` + ``bd0``), whose error is relative
to the size of the result, so float32 acceptance tests stay accurate for large n. Counts are
integers (int32, or int64 under x64). In float32, n above 2^24 has p rounded to float32 precision
(relative 6e-8); enable x64 for exact laws up to n = 2^31 - 1.

``multinomial(keys_C, ...)`` takes one key per row (chain); row c's draws depend on ``keys_C[c]``
alone, whatever the batch size.

The Gaussian family's Bartlett–Wishart factors and log-Gamma draws live in :mod:`.wishart` and
:mod:`.gamma`.
"""

from . import wishart
from .binomial import binomial, binomial_lanes, log_binomial_pmf
from .hypergeometric import log_hypergeometric_pmf, multivariate_hypergeometric
from .gamma import loggamma
from .multinomial import multinomial
from .threefry import LaneUniforms, bits_to_unit, threefry2x32

__all__ = ["binomial", "binomial_lanes", "log_binomial_pmf", "log_hypergeometric_pmf", "multivariate_hypergeometric",
           "multinomial", "loggamma", "LaneUniforms", "bits_to_unit", "threefry2x32"]


def multinomial_KC(keys_C, n_C, p_KxC):
    """Multinomial counts on the [K, C] layout (categories × chains)."""
    return multinomial(keys_C, n_C, p_KxC.T).T


def multivariate_hypergeometric_KC(keys_C, n_C, pool_KxC, dtype=None):
    """Multivariate hypergeometric counts on the [K, C] layout."""
    return multivariate_hypergeometric(keys_C, n_C, pool_KxC.T, dtype=dtype).T
