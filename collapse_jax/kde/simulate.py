"""``kde.simulate``: validate, run the KDE kernel on the engine, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import simulation
from ..core.engine import Output
from ..core.errors import InputError, as_float, as_int, require
from ..core.process import Process
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from ..core.sweepable import Sweepable
from ..gaussian.original import Original, make_original
from .kernel import METRICS, RULES, KDEKernel
from .theory import predictions

UNBOUNDED = METRICS  # a drifting mean and a multiplicative variance: late means can sit in the tails
MAX_POINT_ELEMENTS = 1 << 28  # chains × (points per generation + pool) × d held at once


def _bandwidth(bandwidth: Any) -> tuple[str, float]:
    """(rule, h): a positive number is a fixed bandwidth; else one of the named rules."""
    if isinstance(bandwidth, str) and bandwidth in RULES[1:]:
        return bandwidth, 0.0
    try:
        h = as_float("bandwidth", bandwidth)
    except InputError:
        raise InputError(f"bandwidth must be a number > 0 or one of {', '.join(RULES[1:])}, "
                         f"got {bandwidth!r}") from None
    require(h > 0, f"a fixed bandwidth must be > 0, got {h}")
    return "fixed", h


def prepare(mean0: Any = None, cov0: Any = None, *, process: Process, bandwidth: Any = 0.5,
            original: "str | Original | None" = "gaussian", dtype: str = "float32", chains: int = 1) -> Prepared:
    """The validated run (also how the sweep turns a grid point into lanes)."""
    rule, h = _bandwidth(bandwidth)
    dtype = simulation.check_dtype(dtype)
    orig = make_original(original, mean0, cov0)
    d = orig.dim
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the KDE family: the previous generation's data "
                         "distribution is a mixture of every earlier KDE; use gamma (original data) or "
                         "workflow='accumulate'")
    G = process.generations
    if G and rule.endswith("-cov"):
        smallest, worst, _, _ = process.schedule.extremes(1 if process.workflow == "accumulate" else G)
        if smallest <= d:
            raise InputError(f"bandwidth {rule!r} scales the kernel by the points' covariance, which needs M > d "
                             f"= {d} points per fit; M_{worst} = {smallest}")
    m_max = process.schedule.extremes(G)[2] if G else 1
    pool_len = process.schedule.prefix_sum(G) + m_max if process.workflow != "replace" else 0
    held = chains * (m_max + pool_len) * d
    require(held <= MAX_POINT_ELEMENTS, f"the run would hold {held:.3g} numbers (chains x points x d); at most "
                                        f"{MAX_POINT_ELEMENTS:.3g}: use fewer chains, samples or generations")
    kernel = KDEKernel(dim=d, dtype=dtype, workflow=process.workflow, uses_gamma=process.mixing.uses("gamma"),
                       rule=rule, original=orig.kind, df=orig.df, m_max=m_max, pool_len=pool_len)
    params = {"bandwidth": np.float64(h), "mean0": orig.mean, "cov0": orig.cov, "original": orig.arrays()}

    def columns(start: int, stop: int) -> dict[str, np.ndarray]:
        table = process.table(start, stop)
        return {"n_prev": table["pool"] - table["m"], "first": (np.arange(start, stop) == 0).astype(np.float64)}

    config = {"dim": d, "bandwidth": h if rule == "fixed" else rule, "original": orig.to_config()}
    return Prepared(kernel, params, process, config, dtype, columns=columns,
                    resolved={"rule": rule, "h": h, "trace0": float(np.trace(orig.cov))})


def _predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, np.ndarray]:
    res = prepared.resolved
    return predictions(prepared.process, res["rule"], res["h"], prepared.config["dim"], res["trace0"], rows)


def simulate(
    mean0: Any = None,
    cov0: Any = None,
    *,
    bandwidth: Any = 0.5,
    original: "str | Original | None" = "gaussian",
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
    """Simulate ``chains`` independent chains of Gaussian kernel density estimates, each fitted to
    M_t points sampled from its predecessor (Kazdan et al. 2024, "Collapse or thrive?").

    ``mean0`` (d,) and ``cov0`` (d, d) (or a scalar variance) define D_0 = N(mean0, cov0), or its
    first two moments for ``original='student-t:DF'`` / ``'mixture:SEP'``; an :class:`Original`
    (e.g. ``gaussian.data_original(array)``) may replace them. ``bandwidth``: a number h (kernel
    h²I, as scikit-learn's KernelDensity), ``'scott'`` / ``'silverman'`` (scikit-learn's rules: h =
    N^{−1/(d+4)}, (N(d+2)/4)^{−1/(d+4)} of the N fitting points) or ``'scott-cov'`` /
    ``'silverman-cov'`` (scipy's gaussian_kde: those factors times the points' covariance).
    The process: ``process=`` or its keywords (``samples`` M, default 100; ``generations``, 100;
    ``schedule``, ``workflow`` replace / accumulate / accumulate-subsample, ``alpha``/``gamma``).

    Metrics (rows, chains): ``variance`` = tr Cov of the fitted KDE (its variance in 1-D; row 0 is
    D_0's) and ``mean_sq`` = ‖mean of the KDE − mean0‖². ``predictions``: their exact expectations
    for replace and accumulate, any schedule, γ_t and bandwidth rule (docs/THEORY.md §5.2).
    ``final``: each chain's KDE ``mean``, ``cov`` and kernel covariance ``kernel_cov``;
    ``record_every = k`` keeps those moments of the first ``record_chains`` chains. Chain c's path
    depends only on (seed, c); ``first_chain`` runs chains of a larger run exactly.
    """
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": 100, "generations": 100})
    prepared = prepare(mean0, cov0, process=process, bandwidth=bandwidth, original=original, dtype=dtype,
                       chains=chains)
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)

    def finish(out: Output) -> SimulationResult:
        config = simulation.run_config(prepared, **run, output=out)
        s = out.state
        kchol = np.asarray(s.kchol, np.float64)
        kernel_cov = kchol @ np.swapaxes(kchol, -1, -2)
        cov = np.asarray(s.scatter, np.float64) / np.asarray(s.count, np.float64)[:, None, None] + kernel_cov
        trajectory = dict(out.trajectory, generation=out.snapshot_rows) if out.trajectory else {}
        return SimulationResult("kde", config, out.metrics, rows=out.rows,
                                final={"mean": np.asarray(s.mean), "cov": cov, "kernel_cov": kernel_cov},
                                predictions=_predictions(prepared, out.rows), trajectory=trajectory,
                                unbounded=UNBOUNDED)

    return simulation.simulate("kde", prepared, finish, record_chains=record_chains, progress=progress, **run)


def _sweep_prepare(params, generations: int) -> Prepared:
    process = Process.resolve(samples=params["samples"], generations=generations, schedule=params["schedule"],
                              workflow=params["workflow"], alpha=params["alpha"], gamma=params["gamma"])
    variance = as_float("variance", params["variance"])
    require(variance > 0, f"variance must be > 0, got {variance}")
    d = as_int("dim", params["dim"], minimum=1)
    return prepare(np.zeros(d), variance * np.eye(d), process=process, bandwidth=params["bandwidth"],
                   original=params["original"], dtype=params["dtype"])


def _sweep_predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    return {k: (v, "exact") for k, v in _predictions(prepared, rows).items()}


def _cost(prepared: Prepared) -> float:
    k = prepared.kernel
    return 100.0 + 30.0 * k.m_max * k.dim + 4.0 * k.dim**3 + (6.0 * k.pool_len if k.workflow != "replace" else 0)


SWEEP = Sweepable(
    name="kde",
    defaults={"dim": 1, "variance": 1.0, "samples": 100, "schedule": "constant", "workflow": "replace",
              "alpha": None, "gamma": 0.0, "bandwidth": 0.5, "original": "gaussian", "dtype": "float32"},
    prepare=_sweep_prepare,
    metrics=METRICS,
    predictions=_sweep_predictions,
    unbounded=UNBOUNDED,
    cost=_cost,
)


__all__ = ["simulate", "prepare", "SWEEP", "UNBOUNDED"]
