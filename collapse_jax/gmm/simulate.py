"""``gmm.simulate``: validate, run the GMM kernel on a driver, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import async_engine, engine, simulation, streams
from ..core.engine import Output
from ..core.errors import InputError, as_int, choice, require
from ..core.process import Process
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from . import em
from .data import PRESETS, as_data
from .kernel import ACCUMULATING, GMMKernel

INITS = ("kmeans++", "warm")
SCHEDULERS = ("async", "sync")
RECORD_CHAINS = 4  # chains whose mixtures are recorded by default (for the scatter plot)
HELDOUT = 1000  # held-out points of a preset
REAL_SAMPLES = 1000  # a preset's real points per chain and the sample size, by default (the notebook's)
DRIVERS = {"async": async_engine.run_async, "sync": engine.run}


def _heldout(heldout: Any, preset: str | None, true: em.GMM | None, real: np.ndarray | None, seed: int,
             dtype: str) -> tuple[np.ndarray, str]:
    """Held-out real points (d, n) and where they come from: fresh draws from a preset's mixture
    (the seed's ``reference`` stream, shared by every chain), an array, or the real data itself."""
    if preset is not None:
        n_held = HELDOUT if heldout is None else as_int("heldout", heldout, minimum=1)
        with simulation.x64(dtype):
            key = streams.stream(streams.root_key(seed), "reference")
            return np.asarray(em.sample_dN(key, em.GMM(*(np.asarray(a, dtype) for a in true)), n_held)), "preset"
    if heldout is None or isinstance(heldout, (int, np.integer)):
        return real.T, "data"
    held = as_data("heldout", heldout)
    require(held.shape[1] == real.shape[1], f"heldout has {held.shape[1]} dims, the data have {real.shape[1]}")
    return held.T, "array"


def prepare(data: "str | np.ndarray" = "blob", *, process: Process, components: int = 2,
            real_samples: int | None = None, heldout: Any = HELDOUT, tol: float = 1e-5, max_iter: int = 2000,
            reg_covar: float = 1e-6, init: str = "kmeans++", seed: int = 0, dtype: str = "float32") -> Prepared:
    """The validated run: kernel, parameters (the preset's mixture or the real data, held-out
    points), process and config."""
    components, settings = em.check_settings(components, tol, max_iter, reg_covar)
    init = choice("init", init, INITS)
    dtype = simulation.check_dtype(dtype)
    seed = streams.check_seed(seed)
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the GMM family: the previous generation's data distribution "
                         "is a mixture of every earlier fit; use gamma (real data) or workflow='accumulate'")
    preset = true = real = None
    if isinstance(data, str):
        preset = choice("preset", data, tuple(PRESETS))
        true = em.GMM(*(np.asarray(a, np.float64) for a in PRESETS[preset]))
        dims = true.means.shape[1]
        n_real = as_int("real_samples", process.schedule.samples if real_samples is None else real_samples,
                        minimum=1)
    else:
        real = as_data("data", data)
        n_real, dims = real.shape
        require(real_samples is None or real_samples == n_real,
                f"real_samples ({real_samples}) is the size of a preset's real data; the data array has {n_real} "
                "points")
    em.check_points(n_real, components, dims, "real samples")
    G = process.generations
    sizes = process.sizes()
    if G and process.workflow != "accumulate":  # accumulate fits pools, never smaller than the real data
        worst = int(np.argmin(sizes))
        em.check_points(int(sizes[worst]), components, dims, f"samples (M_{worst})")
    draw = int(sizes.max()) if G else 1
    pool = n_real + process.schedule.prefix_sum(G) + draw if process.workflow in ACCUMULATING else 0
    held, held_source = _heldout(heldout, preset, true, real, seed, dtype)
    kernel = GMMKernel(components=components, dims=dims, real_points=n_real,
                       fit_points=pool if process.workflow == "accumulate" else draw, draw_points=draw,
                       pool_points=pool, workflow=process.workflow, init=init, uses_gamma=process.mixing.uses("gamma"),
                       own_real=preset is not None, settings=settings, dtype=dtype)
    params: dict[str, Any] = {"held": held}
    if preset is not None:
        params["true"] = tuple(true)
    else:
        params["real"] = real.T
    config = {"data": preset if preset is not None else f"array{tuple(real.shape)}", "components": components,
              "dims": dims, "real_samples": n_real, "tol": settings.tol, "max_iter": settings.max_iter,
              "reg_covar": settings.reg_covar, "kmeans_iter": settings.kmeans_iter, "init": init,
              "heldout": int(held.shape[1]), "heldout_source": held_source}
    if preset is not None:
        config["true"] = {name: np.asarray(a).tolist() for name, a in zip(em.GMM._fields, true)}
    return Prepared(kernel, params, process, config, dtype)


def simulate(
    data: "str | np.ndarray" = "blob",
    *,
    process: Process | None = None,
    samples: int | None = None,
    generations: int | None = None,
    schedule: "str | Sequence[int] | None" = None,
    workflow: str | None = None,
    alpha: Any = None,
    beta: Any = None,
    gamma: Any = None,
    chains: int = 16,
    seed: int = 0,
    first_chain: int = 0,
    metrics_every: int = 1,
    record_every: int | None = None,
    record_chains: int | None = RECORD_CHAINS,
    components: int = 2,
    real_samples: int | None = None,
    heldout: Any = HELDOUT,
    tol: float = 1e-5,
    max_iter: int = 2000,
    reg_covar: float = 1e-6,
    init: str = "kmeans++",
    scheduler: str = "async",
    dtype: str = "float32",
    progress: bool = True,
) -> SimulationResult:
    """Fit a GMM to real data, then every generation sample from the fit and refit (THEORY.md §4.1).

    ``data``: a preset (``'blob'``: the notebook's one 2-D N(0, I) blob; ``'two-gaussians'``), from
    which every chain draws its own ``real_samples`` real points (default: the schedule's base
    size) and the run draws ``heldout`` held-out points shared by all chains; or an array
    (samples, dims) shared by every chain, held out as itself unless ``heldout`` is an array.

    The process: ``process=`` or its keywords (``samples`` M, default 1000 or the array's size;
    ``generations``, 2000; ``schedule``; ``workflow`` replace | accumulate | accumulate-subsample;
    ``alpha``/``gamma``, numbers or schedules; beta > 0 is refused). Generation i draws M_i points
    from alpha_i * (current fit) + gamma_i * (the chain's real data, resampled) and refits, on
    them (replace), on the pool of every point so far including the real data (accumulate), or on
    M_i points drawn without replacement from that pool (accumulate-subsample); from k-means++
    (``init='kmeans++'``, the notebook's fresh fit) or from the previous fit (``'warm'``). EM as
    scikit-learn's ``GaussianMixture(components, 'full', tol, max_iter, reg_covar)``.

    ``scheduler='async'`` (default) lets every chain run its k-means and EM iterations at its own
    pace (:func:`collapse_jax.core.async_engine.run_async`), so a batch is not held up each
    generation by its slowest fit; ``'sync'`` runs every generation for all chains together
    (:func:`collapse_jax.core.engine.run`). Both give the same numbers for every chain, and chain
    c's numbers depend on (seed, c) alone: ``first_chain`` runs chains of a larger run exactly.

    Metrics (rows, chains), row 0 the fit to real data, then a row every ``metrics_every``
    generations: ``l2`` (squared L2 distance to the generation-0 fit), ``weight_k`` and ``std_k``
    (component k by decreasing weight; std = sqrt(tr Σ_k / d)), ``loglik`` (training mean
    log-likelihood), ``real_loglik`` (held-out real data), ``iterations`` and ``converged`` of EM.
    ``trajectory`` holds the mixtures (``weights``, ``means``, ``covs``) of the first
    ``record_chains`` chains every ``record_every`` generations (default: every row) and
    ``generation``; ``final`` the last mixture of every chain.
    """
    scheduler = choice("scheduler", scheduler, SCHEDULERS)
    real_default = REAL_SAMPLES if isinstance(data, str) else as_data("data", data).shape[0]
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": real_default, "generations": 2000})
    prepared = prepare(data, process=process, components=components, real_samples=real_samples, heldout=heldout,
                       tol=tol, max_iter=max_iter, reg_covar=reg_covar, init=init, seed=seed, dtype=dtype)
    record_every = as_int("metrics_every", metrics_every, minimum=1) if record_every is None else record_every
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)

    def finish(out: Output) -> SimulationResult:
        config = simulation.run_config(prepared, **run, output=out)
        config.update(scheduler=scheduler, record_chains=record_chains)
        final = {k: np.asarray(v) for k, v in out.state.model._asdict().items()}
        trajectory = dict(out.trajectory, generation=out.snapshot_rows) if out.trajectory else {}
        if "real" in prepared.params:  # the real data, for the scatter plot (presets are redrawn from `true`)
            trajectory["real_data"] = np.asarray(prepared.params["real"]).T
        return SimulationResult("gmm", config, out.metrics, rows=out.rows, final=final, trajectory=trajectory)

    return simulation.simulate("gmm", prepared, finish, record_chains=record_chains, progress=progress,
                               driver=DRIVERS[scheduler], **run)


__all__ = ["simulate", "prepare", "INITS", "SCHEDULERS"]
