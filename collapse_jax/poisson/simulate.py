"""``poisson.simulate``: validate, run the Poisson kernel on the engine, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import simulation
from ..core.engine import Output
from ..core.errors import InputError, as_float
from ..core.process import Process
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from ..core.sweepable import Sweepable
from .kernel import METRICS, PoissonKernel
from .theory import predictions

UNBOUNDED = ("rate",)  # late on, E λ_t = λ_0 is carried by the few chains not yet absorbed


def prepare(rate0: Any = 1.0, *, process: Process, dtype: str = "float32") -> Prepared:
    """The validated run (also how the sweep turns a grid point into lanes)."""
    rate0 = as_float("rate0", rate0, minimum=0.0)
    dtype = simulation.check_dtype(dtype)
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the Poisson family: the previous generation's data "
                         "distribution is a mixture of every earlier fit; use gamma (original data) or "
                         "workflow='accumulate'")
    if process.workflow == "accumulate-subsample":
        raise InputError("workflow 'accumulate-subsample' draws individual points from the pool; the Poisson "
                         "family keeps only the pooled sum (its sufficient statistic): use replace or accumulate")
    kernel = PoissonKernel(workflow=process.workflow, dtype=dtype, uses_gamma=process.mixing.uses("gamma"))
    return Prepared(kernel, {"rate0": np.float64(rate0)}, process, {"rate0": rate0}, dtype)


def simulate(
    rate0: float = 1.0,
    *,
    process: Process | None = None,
    samples: int | None = None,
    generations: int | None = None,
    schedule: "str | Sequence[int] | None" = None,
    workflow: str | None = None,
    alpha: Any = None,
    beta: Any = None,
    gamma: Any = None,
    chains: int = 1000,
    seed: int = 0,
    first_chain: int = 0,
    metrics_every: int = 1,
    record_every: int = 0,
    record_chains: int | None = None,
    dtype: str = "float32",
    progress: bool = True,
) -> SimulationResult:
    """Simulate ``chains`` independent Poisson rates refitted by their sample means (Suresh et al.):
    λ_{t+1} = mean of M_t points from Poisson(λ_t), a share γ_t of them from Poisson(λ_0).

    The process: ``process=`` or its keywords (``samples`` M, default 10; ``generations``, 100;
    ``schedule``, ``workflow`` replace or accumulate, ``alpha``/``gamma`` numbers or schedules).

    Metrics (rows, chains), a row every ``metrics_every`` generations: ``rate`` (λ_t) and
    ``absorbed`` (1 where λ_t = 0, the absorbing state without real data). ``predictions``: E λ_t
    for any schedule and γ_t, and P(λ_t = 0) without real data, both exact. ``events['absorbed_at']``
    is each chain's first generation with λ = 0 (-1: none yet); ``final['rate']`` the last rates;
    ``record_every = k`` keeps the rates of the first ``record_chains`` chains every k generations.
    Chain c's path depends only on (seed, c): ``first_chain`` runs chains ``first_chain, ...`` of a
    larger run exactly. float32 counts are exact integers below 2^24; ``dtype='float64'`` beyond.
    """
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": 10, "generations": 100})
    prepared = prepare(rate0, process=process, dtype=dtype)
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)

    def finish(out: Output) -> SimulationResult:
        config = simulation.run_config(prepared, **run, output=out)
        preds = predictions(process, prepared.config["rate0"], out.rows)
        trajectory = dict(out.trajectory, generation=out.snapshot_rows) if out.trajectory else {}
        return SimulationResult("poisson", config, out.metrics, rows=out.rows,
                                final={"rate": np.asarray(out.state.rate)},
                                predictions=preds, events={"absorbed_at": np.asarray(out.state.absorbed_at)},
                                trajectory=trajectory, unbounded=UNBOUNDED)

    return simulation.simulate("poisson", prepared, finish, record_chains=record_chains, progress=progress, **run)


def _sweep_prepare(params, generations: int) -> Prepared:
    process = Process.resolve(samples=params["samples"], generations=generations, schedule=params["schedule"],
                              workflow=params["workflow"], alpha=params["alpha"], gamma=params["gamma"])
    return prepare(params["rate0"], process=process, dtype=params["dtype"])


def _sweep_predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    preds = predictions(prepared.process, prepared.config["rate0"], rows)
    return {k: (v, "exact") for k, v in preds.items()}


SWEEP = Sweepable(
    name="poisson",
    defaults={"rate0": 1.0, "samples": 10, "schedule": "constant", "workflow": "replace", "alpha": None,
              "gamma": 0.0, "dtype": "float32"},
    prepare=_sweep_prepare,
    metrics=METRICS,
    predictions=_sweep_predictions,
    events=lambda state: {"absorption_time": np.asarray(state.absorbed_at)},
    unbounded=UNBOUNDED,
    cost=lambda prepared: 300.0 * (2 if prepared.kernel.uses_gamma else 1),
)


__all__ = ["simulate", "prepare", "SWEEP", "UNBOUNDED"]
