"""The exact samplers against slow, obviously-right references (scipy pmfs, enumeration)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from collapse_jax import samplers


def chi2_pvalue(draws, pmf_of):
    """Goodness of fit of integer draws to a pmf, pooling cells with expected count < 5."""
    values, observed = np.unique(draws, return_counts=True)
    support = np.arange(values.min(), values.max() + 1)
    obs = np.zeros(support.size)
    obs[values - values.min()] = observed
    exp = pmf_of(support) * draws.size
    keep = exp >= 5
    # pool everything else (both tails, and mass outside the observed range) into one cell
    rest_obs = draws.size - obs[keep].sum()
    rest_exp = draws.size - exp[keep].sum()
    o = np.append(obs[keep], rest_obs)
    e = np.append(exp[keep], rest_exp)
    mask = e > 0
    chi2 = np.sum((o[mask] - e[mask]) ** 2 / e[mask])
    return stats.chi2.sf(chi2, mask.sum() - 1)


def outcome_chi2_pvalue(counts, outcomes, pmf):
    """Goodness of fit of count vectors to an exact law enumerated over every possible outcome."""
    index = {c: i for i, c in enumerate(outcomes)}
    observed = np.bincount([index[tuple(c)] for c in counts], minlength=len(outcomes))
    expected = np.array([pmf(c) for c in outcomes]) * counts.shape[0]
    chi2 = np.sum((observed - expected) ** 2 / expected)
    return stats.chi2.sf(chi2, len(outcomes) - 1)


def test_threefry_known_answers():
    # Random123's known-answer vectors for Threefry-2x32 with 20 rounds.
    cases = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
             ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
             ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for (k0, k1), (x0, x1), expected in cases:
        y = samplers.threefry2x32(np.uint32(k0), np.uint32(k1), np.uint32(x0), np.uint32(x1))
        assert (int(y[0]), int(y[1])) == expected


@pytest.mark.parametrize("n,p", [(20, 0.3), (37, 0.9), (1000, 0.5), (5000, 0.002), (100000, 1e-4),
                                 (30, 0.33), (250, 0.07), (12, 0.5)])
def test_binomial_law(n, p):
    draws = np.asarray(samplers.binomial(jax.random.key(n), n, p, shape=(100_000,)))
    assert draws.min() >= 0 and draws.max() <= n
    assert chi2_pvalue(draws, lambda k: stats.binom.pmf(k, n, p)) > 1e-4


def test_binomial_degenerate_parameters_are_exact():
    key = jax.random.key(0)
    n = jnp.array([0, 10, 10, 7, 2**31 - 1, 0])
    p = jnp.array([0.3, 0.0, 1.0, 1.0, 0.0, 1.0])
    assert np.array_equal(samplers.binomial(key, n, p), [0, 0, 10, 7, 0, 0])


def test_binomial_huge_n_moments():
    # n = 10^9 > 2^24: counts are integers, not float32-rounded; moments match.
    n, p = 10**9, 0.37
    draws = np.asarray(samplers.binomial(jax.random.key(3), n, p, shape=(50_000,)), dtype=np.float64)
    assert draws.dtype == np.float64 and np.all(draws <= n)
    mean, var = n * p, n * p * (1 - p)
    assert abs(draws.mean() - mean) / np.sqrt(var / draws.size) < 4
    assert abs(draws.var() / var - 1) < 4 * np.sqrt(2 / draws.size)


def _keys(chains, seed=0):
    root = jax.random.key(seed)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(root, jnp.arange(chains))


def test_multinomial_one_step_law_by_enumeration():
    p = np.array([0.5, 0.3, 0.2])
    m = 4
    counts = np.asarray(samplers.multinomial(_keys(60_000), m, jnp.broadcast_to(jnp.asarray(p, jnp.float32), (60_000, 3))))
    assert np.all(counts.sum(1) == m)
    outcomes = [c for c in itertools.product(range(m + 1), repeat=3) if sum(c) == m]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multinomial.pmf(c, m, p)) > 1e-4


def test_multinomial_rows_are_addressable_and_collapsed_rows_stay():
    p = jnp.asarray(np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]] * 8, np.float32))
    big = np.asarray(samplers.multinomial(_keys(16), 1000, p))
    small = np.asarray(samplers.multinomial(_keys(4), 1000, p[:4]))
    assert np.array_equal(big[:4], small)
    assert np.all(big[::2] == [1000, 0, 0, 0])  # an absorbed chain neither hangs nor moves


def test_multivariate_hypergeometric_one_step_law():
    pool = np.array([3, 2, 4])
    n = 4
    counts = np.asarray(samplers.multivariate_hypergeometric(_keys(40_000, 1), n, jnp.broadcast_to(jnp.asarray(pool), (40_000, 3))))
    assert np.all(counts.sum(1) == n) and np.all(counts <= pool)
    outcomes = [c for c in itertools.product(*(range(k + 1) for k in pool)) if sum(c) == n]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multivariate_hypergeom.pmf(c, pool, n)) > 1e-4


def test_hypergeometric_marginal_law_large_pool():
    # Two categories: the first count is Hypergeometric(draws=300 from 900 good + 2100 bad).
    pool = jnp.broadcast_to(jnp.array([900, 2100]), (50_000, 2))
    counts = np.asarray(samplers.multivariate_hypergeometric(_keys(50_000, 2), 300, pool))[:, 0]
    assert chi2_pvalue(counts, lambda k: stats.hypergeom.pmf(k, 3000, 900, 300)) > 1e-4


def test_log_binomial_pmf_is_accurate_in_float32():
    k = np.array([0, 1, 5, 500, 4999, 5000, 50_000_123])
    n = np.array([10, 10, 10, 1000, 10000, 10000, 10**8])
    p = np.array([0.3, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5])
    got = np.asarray(samplers.log_binomial_pmf(jnp.asarray(k, jnp.float32), jnp.asarray(n, jnp.float32),
                                               jnp.asarray(p, jnp.float32)))
    ref = stats.binom.logpmf(k, n, p)
    assert np.allclose(got, ref, rtol=2e-5, atol=2e-5)


def test_multinomial_two_stage_path_marginals_and_covariance():
    # K > 16 cuts categories into blocks: every marginal must still be Binomial(n, p_k) and
    # categories in different blocks must keep the multinomial covariance -n p_i p_j.
    k, n, rows = 23, 50, 40_000
    p = np.arange(1, k + 1, dtype=np.float64) ** -1.1
    p /= p.sum()
    counts = np.asarray(samplers.multinomial(_keys(rows, 5), n, jnp.broadcast_to(jnp.asarray(p, jnp.float32), (rows, k))))
    assert np.all(counts.sum(1) == n)
    for i in (0, 6, 11, 22):
        assert chi2_pvalue(counts[:, i], lambda x: stats.binom.pmf(x, n, p[i])) > 1e-4
    i, j = 0, 13
    prod = (counts[:, i] - n * p[i]) * (counts[:, j] - n * p[j])
    z = (prod.mean() + n * p[i] * p[j]) / (prod.std(ddof=1) / np.sqrt(rows))
    assert abs(z) < 4
