"""A fast subset of the poisson catalogue (theory/poisson.py): every exact identity within 4 standard
errors of its own run at seed 0; the other checks run with the slow tests."""

import pytest

from theory import CATALOGUE, failures

FAST = ("poisson.accumulate",)
SLOW = tuple(name for name, chk in CATALOGUE.items() if chk.family == "poisson" and name not in FAST)


@pytest.mark.parametrize("name", FAST)
def test_fast_checks(name):
    assert not failures(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_checks(name):
    assert not failures(name)
