"""``discrete.simulate``: validate, run the kernel on the engine, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import simulation
from ..core.engine import Output
from ..core.errors import InputError, as_float
from ..core.process import MAX_SAMPLES, Process
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from .initial import initial_distribution, tail_states
from ..core.sweepable import Sweepable
from .kernel import METRICS, DiscreteKernel
from .theory import absorption_time_diffusion, predictions


def prepare(p0: Any = "uniform", *, states: int | None = None, process: Process, tail_quantile: float = 0.1,
            dtype: str = "float32") -> Prepared:
    """The validated run (also how the sweep turns a grid point into lanes)."""
    p0_K = initial_distribution(p0, states)
    tail_quantile = as_float("tail_quantile", tail_quantile, minimum=0.0, maximum=1.0)
    dtype = simulation.check_dtype(dtype)
    if process.workflow != "replace" and dtype == "float32" and process.generations:
        pooled = process.schedule.prefix_sum(process.generations)
        if pooled > MAX_SAMPLES:
            raise InputError(f"the accumulated pool reaches {pooled} samples, more than the {MAX_SAMPLES} that "
                             "float32 runs count in int32; use dtype='float64'")
    tail_K = tail_states(p0_K, tail_quantile)
    mix = process.mixing
    kernel = DiscreteKernel(workflow=process.workflow, dtype=dtype, uses_beta=mix.uses("beta"),
                            uses_gamma=mix.uses("gamma"))
    config = {"states": int(p0_K.size), "p0": p0_K.tolist(), "init": p0 if isinstance(p0, str) else "vector",
              "tail_quantile": tail_quantile}
    return Prepared(kernel, {"p0": p0_K, "tail": tail_K}, process, config, dtype)


def simulate(
    p0: "str | Sequence[float] | np.ndarray" = "uniform",
    *,
    states: int | None = None,
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
    tail_quantile: float = 0.1,
    dtype: str = "float32",
    progress: bool = True,
) -> SimulationResult:
    """Simulate ``chains`` independent discrete chains: counts ~ Multinomial(M_t, q_t),
    p_{t+1} = counts / M_t, with q_t = α_t p_t + β_t (previous data) + γ_t p_0.

    ``p0``: a probability vector, ``'uniform'`` or ``'zipf:S'`` (with ``states`` = K, default
    100) or ``'counts:PATH'``. The process: ``process=`` or its keywords ``samples`` (M, default
    100), ``generations`` (100), ``schedule``, ``workflow``, ``alpha``/``beta``/``gamma`` (numbers
    or schedules such as ``'linear:0.5,0'``), see :class:`collapse_jax.Process`.

    Returns a :class:`SimulationResult` with metrics of shape (rows, chains), a row every
    ``metrics_every`` generations (default every one): ``gini_simpson`` (1 − Σp²), ``entropy``
    (nats), ``surviving`` states, ``tv`` and ``kl`` (KL(p_0 ‖ p), +inf once a state is lost)
    distances to p_0, ``tail_lost`` (p_0-mass of extinct states among those at or below the
    ``tail_quantile`` quantile of p_0) and ``absorbed`` (one state left). ``events`` hold per chain
    the generation of absorption and of the first extinction (-1: not yet); ``final['p']`` the
    final distributions (chains, K). ``record_every = k`` keeps the distributions of the first
    ``record_chains`` chains (default all) every k generations in ``trajectory['p']``.

    Chain c's path depends only on (seed, c): ``first_chain`` runs chains ``first_chain, ...`` of a
    larger run exactly. ``dtype='float64'`` gives exact laws for every sample size up to 2³¹ − 1.
    """
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": 100, "generations": 100})
    prepared = prepare(p0, states=states, process=process, tail_quantile=tail_quantile, dtype=dtype)
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)

    def finish(out: Output) -> SimulationResult:
        state = out.state
        config = simulation.run_config(prepared, **run, output=out)
        p0_K, tail_K = prepared.params["p0"], prepared.params["tail"]
        preds = predictions(p0_K, process, tail_K, out.rows)
        trajectory = {}
        if out.trajectory:
            trajectory = {"p": np.swapaxes(out.trajectory["p"], 1, 2), "generation": out.snapshot_rows}
        return SimulationResult(
            "discrete", config, out.metrics, rows=out.rows,
            final={"p": np.asarray(state.model).T},
            predictions={k: v[: out.rows.size] for k, v in preds.items()},
            events={"absorbed_at": np.asarray(state.absorbed_at),
                    "first_extinction": np.asarray(state.first_extinction)},
            trajectory=trajectory)

    return simulation.simulate("discrete", prepared, finish, record_chains=record_chains, progress=progress, **run)




def _sweep_prepare(params, generations: int) -> Prepared:
    process = Process.resolve(samples=params["samples"], generations=generations, schedule=params["schedule"],
                              workflow=params["workflow"], alpha=params["alpha"], beta=params["beta"],
                              gamma=params["gamma"])
    return prepare(params["init"], states=params["states"], process=process,
                   tail_quantile=params["tail_quantile"], dtype=params["dtype"])


def _sweep_predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    p0, tail, process = prepared.params["p0"], prepared.params["tail"], prepared.process
    out = {k: (v, "exact") for k, v in predictions(p0, process, tail, rows).items()}
    mix = process.mixing
    if (process.workflow == "replace" and not mix.uses("beta") and not mix.uses("gamma")
            and process.schedule.kind == "constant"):
        out["absorption_time"] = (np.asarray([absorption_time_diffusion(p0, process.schedule.samples)]), "diffusion")
    return out


SWEEP = Sweepable(
    name="discrete",
    defaults={"states": None, "init": "zipf:1.1", "samples": 100, "schedule": "constant", "workflow": "replace",
              "alpha": None, "beta": 0.0, "gamma": 0.0, "tail_quantile": 0.1, "dtype": "float32"},
    prepare=_sweep_prepare,
    metrics=METRICS,
    predictions=_sweep_predictions,
    events=lambda state: {"absorption_time": np.asarray(state.absorbed_at),
                          "first_extinction_time": np.asarray(state.first_extinction)},
    cost=lambda prepared: 25.0 * prepared.config["states"],
)


__all__ = ["simulate", "prepare", "SWEEP"]
