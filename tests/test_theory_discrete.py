"""A fast subset of the discrete catalogue: exact identities within 4 standard errors of the run."""

import numpy as np
import pytest

from theory import CATALOGUE, Scale

FAST = ["discrete.gini_simpson", "discrete.variance", "discrete.loss_one_generation",
        "discrete.surviving_states", "discrete.real_data_fixed_point"]
SLOW = sorted(set(k for k in CATALOGUE if k.startswith("discrete.")) - set(FAST))


def check(name):
    rows = CATALOGUE[name].run(Scale(seed=0))
    assert rows
    for row in rows:
        assert row.passed(z_max=4.0), f"{row.label}: simulated {row.simulated} ± {row.se}, exact {row.predicted}"


@pytest.mark.parametrize("name", FAST)
def test_exact_identities(name):
    check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_remaining_identities(name):
    check(name)


def test_extinction_probabilities_build_each_matrix_once_and_agree_with_a_direct_build():
    from scipy import stats as sp_stats

    from collapse_jax.discrete import theory as th
    p0 = np.array([0.5, 0.3, 0.15, 0.05, 0.0])
    sizes = np.array([10, 10, 12, 12, 12, 15, 10, 10])  # repeats and changes of M
    values, inverse = np.unique(p0, return_inverse=True)
    dist = sp_stats.binom.pmf(np.arange(11)[None, :], 10, values[:, None])
    direct = [(values == 0).astype(float), dist[:, 0]]
    for t in range(1, len(sizes)):
        grid = np.arange(sizes[t - 1] + 1)[:, None] / sizes[t - 1]
        dist = dist @ sp_stats.binom.pmf(np.arange(sizes[t] + 1)[None, :], sizes[t], grid)
        direct.append(dist[:, 0])
    np.testing.assert_allclose(th.extinction_probabilities(p0, sizes), np.array(direct)[:, inverse], rtol=1e-12)
    # the main benchmark shape (M = 1000, 200 generations, uniform p_0) stays within the budget
    assert th.exact_transition_cost(np.full(100, 0.01), np.full(200, 1000)) <= th.EXACT_BUDGET
