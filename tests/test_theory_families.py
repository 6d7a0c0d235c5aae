"""A fast subset of the follow-up families' catalogue (theory/kde.py, poisson.py, regression.py):
every exact identity within 4 standard errors of its own run at seed 0; the other checks of those
families run with the slow tests."""

import pytest

from theory import CATALOGUE, failures

FAST = ("kde.mean_drift", "poisson.accumulate", "regression.replace", "regression.real_rows")
SLOW = tuple(name for name, chk in CATALOGUE.items()
             if chk.family in ("kde", "poisson", "regression") and name not in FAST)


@pytest.mark.parametrize("name", FAST)
def test_fast_checks(name):
    assert not failures(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_checks(name):
    assert not failures(name)
