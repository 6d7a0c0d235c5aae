"""A fast subset of the Gaussian theorem catalogue (theory/gaussian.py): |z| <= 4 at fixed seeds."""

from __future__ import annotations

import pytest

from theory import CATALOGUE, Scale

Z_MAX = 4.0
FAST = ("gaussian.one_dimensional", "gaussian.log_determinant", "gaussian.mle")
SLOW = tuple(name for name, chk in CATALOGUE.items() if chk.family == "gaussian" and name not in FAST)


def _check(name: str) -> None:
    rows = CATALOGUE[name].run(Scale(factor=1, seed=0))
    assert rows
    failed = [f"{r.label}: {r.simulated:.6g} +- {r.se:.2g} vs {r.predicted:.6g} (z = {r.z:.2f})"
              for r in rows if not r.passed(Z_MAX)]
    assert not failed, failed


@pytest.mark.parametrize("name", FAST)
def test_fast_checks(name):
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_slow_checks(name):
    _check(name)
