"""Parameter sweeps at scale: a whole grid as one vectorised computation, resumable, one tidy table.

    >>> from collapse_jax import sweep
    >>> res = sweep.run({"family": "discrete", "generations": 50, "chains": 200,
    ...                  "fixed": {"states": 20, "init": "zipf:1.1"},
    ...                  "grid": {"samples": [20, 100], "gamma": [0.0, 0.1]}}, out="runs/my-sweep",
    ...                 progress=False)
    >>> len(res.points), res.rows[0]["metric"], res.rows[0]["generation"]
    (4, 'gini_simpson', 0)

A config (a dict, or a TOML file for ``collapse-jax sweep CONFIG.toml``) names the family, the
generations, chains per point, the seeds and three kinds of parameters: ``[fixed]`` (one value
each), ``[grid]`` (a list each; the sweep runs their Cartesian product) and ``[[cases]]`` (tables
of values that go together, crossed with the grid). ``metrics_every`` records a row every k
generations (default: about 100 rows).

**Vectorised.** Every grid point is resolved by its family's own ``prepare`` (the checks of
``simulate``). Points whose kernels are equal (same static configuration) and whose fixed
parameters agree run as the lanes of one compiled program: their sample-size schedules, mixing
weights and estimators as columns of the per-generation table, their lane parameters (e.g. the
discrete p_0) per lane. One compilation per group.

**Addressable.** Chain c of a point uses ``fold_in(key(rng_seed), c)``, where ``rng_seed`` hashes
(seed, the point's parameters) (``streams = "independent"``, the default) or is the seed itself
(``streams = "common"``): a point's chains get the random draws of ``family.simulate(...,
seed=rng_seed, first_chain=c)``, on 1 or N devices, whatever chunk they fall in, so they follow the
same paths up to float rounding (a grid's arithmetic may be fused differently from a single run's:
the tests find the discrete chains bit-identical and Gaussian metrics within 2e-5 relative).

**Nothing lost.** Work is cut into chunks of about ``chunk_seconds`` (60 s by default, from the
family's cost model; ``chunk_lanes`` fixes the lanes instead), each written atomically as it
finishes; rerunning resumes, a changed config is refused naming its keys.

**Tidy.** ``summary.csv`` (and ``summary.parquet`` when pyarrow is importable): one row per
(point, recorded generation, metric) with mean, standard error, quantiles, the closed form where
one exists, its z-score and the heavy-tail flag; ``points.csv`` lists the points;
:func:`load_chains` returns the raw per-chain values.

The package: ``config``, ``plan`` (points, groups, chunks), ``store`` (the directory), ``run``,
``table``, ``plots``, ``cli``.
"""

from .cli import add_cli
from .config import FAMILIES, load_config
from .plan import Point, plan_chunks, points_of
from .plots import experiment_plot, plot_generic
from .run import run
from .table import SweepResult, finalize, load, load_chains

__all__ = ["run", "load", "load_config", "load_chains", "points_of", "plan_chunks", "finalize", "SweepResult",
           "Point", "plot_generic", "experiment_plot", "add_cli", "FAMILIES"]
