"""Exact discrete samplers on the [K, C] layout (categories × chains), fast when batched.

- :func:`multinomial_KC` / :func:`multivariate_hypergeometric_KC`: counts for every chain
  (column) by conditional binomial / hypergeometric splits. Each chain is one lane of a state
  machine in a single ``while_loop`` that visits only the chain's categories with positive mass
  (dead categories cost nothing; the last alive one takes the remainder), so the work per chain is
  O(alive categories), independent of the sample size. ``multinomial`` and
  ``multivariate_hypergeometric`` are their [C, K] views.
- One binomial split per trip (:mod:`.binomial`): fixed-length fused inversion for means up to
  ``Tuning.inv_mean`` (a rare tail continues the same search with the same uniform), Hörmann's
  BTRS above, evaluated in the integer offset from the mode so float32 stays accurate for
  n ≤ 2³¹−1; a rejected proposal retries in a later trip with the next attempt. The
  hypergeometric uses Stadlober's ratio-of-uniforms the same way (:mod:`.hypergeometric`).
- Randomness: Threefry-2x32 of (category, attempt) under the chain's key words, so a chain's counts
  depend on its key and parameters alone — never on how many chains run beside it, the buffer or
  device it runs in, or how many trips the batch needed.
- Every loop is bounded (an attempt cap no valid input reaches, a cap on the tail search), and
  degenerate inputs (n = 0, p ∈ {0, 1}, one alive category) are exact without a trip.

Counts are int32, or int64 under ``jax.enable_x64`` (float64 runs). :class:`Tuning` holds the
static knobs (tests lower them to force the rare paths). Splitting chains over devices is the
engine's job (``core.engine`` runs each device's share of the chains under ``shard_map``); a
chain's draws do not depend on the device it lands on.

The Gaussian family's Bartlett–Wishart factors and log-Gamma draws live in :mod:`.wishart` and
:mod:`.gamma`.
"""

from . import wishart
from .binomial import DEFAULT, REJECTED, Tuning, binom_log_ratio, binomial, binomial_keyed, log_binomial_pmf
from .gamma import loggamma
from .hypergeometric import (log_hypergeometric_pmf, multivariate_hypergeometric,
                             multivariate_hypergeometric_KC)
from .multinomial import multinomial, multinomial_KC
from .threefry import LaneUniforms, bits_to_unit, threefry2x32

__all__ = ["binomial", "binomial_keyed", "log_binomial_pmf", "binom_log_ratio", "log_hypergeometric_pmf",
           "multivariate_hypergeometric", "multivariate_hypergeometric_KC", "multinomial", "multinomial_KC",
           "loggamma", "bits_to_unit", "threefry2x32", "Tuning", "DEFAULT", "REJECTED",
           "LaneUniforms"]
