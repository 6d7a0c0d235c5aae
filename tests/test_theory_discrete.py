"""A fast subset of the discrete catalogue: exact identities within 4 standard errors of the run."""

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
