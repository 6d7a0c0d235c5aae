import numpy as np
import pytest

from collapse_jax import InputError
from collapse_jax.core.process import Mixing, Process, Schedule, harmonic_sum


def test_schedules():
    assert Schedule.parse("constant", 7).sizes(3).tolist() == [7, 7, 7]
    assert Schedule.parse("linear", 10).sizes(3).tolist() == [10, 20, 30]
    assert Schedule.parse("poly:1.5", 10).sizes(3).tolist() == [10, 28, 52]
    assert Schedule.parse("geometric:2", 5).sizes(4).tolist() == [5, 10, 20, 40]
    assert Schedule.parse("list:3,4,5", None).sizes(2).tolist() == [3, 4]
    assert Schedule.parse([9, 8], None).sizes(2).tolist() == [9, 8]
    assert np.allclose(harmonic_sum(np.array([2, 4])), [0, 0.5, 0.75])


@pytest.mark.parametrize("spec,samples,message", [
    ("cubic", 10, "unknown schedule 'cubic'"),
    ("poly", 10, "needs a parameter"),
    ("poly:-1", 10, "exponent must be >= 0"),
    ("geometric:0", 10, "ratio must be > 0"),
    ("list:a,b", None, "comma-separated integers"),
    ("constant", 0, "samples must be >= 1"),
    ("linear:2", 10, "takes no parameter"),
])
def test_bad_schedules(spec, samples, message):
    with pytest.raises(InputError, match=message):
        Schedule.parse(spec, samples)


def test_schedule_overflow_and_short_list_are_refused():
    with pytest.raises(InputError, match="largest supported sample size"):
        Process.resolve(samples=10, generations=100, schedule="geometric:2")
    with pytest.raises(InputError, match="2 sizes but 3 generations"):
        Process.resolve(samples=None, generations=3, schedule=[1, 2])


@pytest.mark.parametrize("kw,message", [
    (dict(alpha=0.5, beta=0.2, gamma=0.2), "must sum to 1"),
    (dict(gamma=-0.1), "must lie in \\[0, 1\\]"),
    (dict(beta=1.5), "must lie in \\[0, 1\\]"),
    (dict(gamma=float("nan")), "finite"),
])
def test_bad_mixing(kw, message):
    with pytest.raises(InputError, match=message):
        Mixing.resolve(**kw)


def test_mixing_defaults_alpha():
    assert Mixing.resolve(gamma=0.1).constant_values() == (0.9, 0.0, 0.1)


def test_unknown_workflow():
    with pytest.raises(InputError, match="unknown workflow 'pool'"):
        Process.resolve(samples=10, generations=3, workflow="pool")
