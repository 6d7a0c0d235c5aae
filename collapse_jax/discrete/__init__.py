"""Model collapse from sampling alone: a categorical distribution re-estimated from its own samples.

Each generation draws M_t samples from p_t and refits the empirical frequencies: counts ~
Multinomial(M_t, p_t), p_{t+1} = counts / M_t. This is the neutral haploid Wright–Fisher chain with
N = M (docs/THEORY.md §2), simulated for many independent chains at once inside the general process
(mixing with previous or original data, accumulate workflows, sample-size schedules).

    >>> from collapse_jax import discrete
    >>> r = discrete.simulate("zipf:1.1", states=20, samples=100, generations=50, chains=500, progress=False)
    >>> r.metrics["gini_simpson"].shape
    (51, 500)

The package: ``kernel`` (the pure step on the [K, C] layout), ``theory`` (closed forms),
``initial`` (p_0), ``simulate`` (the driver), ``plots`` and ``cli``.
"""

from .cli import add_cli
from .initial import initial_distribution, validate_probabilities
from .kernel import METRICS, DiscreteKernel, metrics_of
from .plots import plot
from .simulate import SWEEP, prepare, simulate
from .theory import (absorption_time_diffusion, exact_transition_cost, extinction_probabilities,
                     gini_simpson_expected, gini_simpson_fixed_point, predictions, variance_expected)

__all__ = ["simulate", "plot", "add_cli", "prepare", "initial_distribution", "validate_probabilities",
           "DiscreteKernel", "metrics_of", "METRICS", "gini_simpson_expected", "gini_simpson_fixed_point",
           "variance_expected", "extinction_probabilities", "exact_transition_cost", "predictions",
           "absorption_time_diffusion"]
