"""``gaussian.simulate``: validate, run a Gaussian kernel on the engine, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core import simulation
from ..core.engine import Output
from ..core.errors import InputError, as_int, choice, require
from ..core.process import Process
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from ..core.sweepable import Sweepable
from .kernel import PointsKernel, StatsKernel, chains_first, chi2_rounds, covariance_of, is_isotropic, reference
from .original import Original, make_original
from .theory import divisor, predictions

ESTIMATORS = ("unbiased", "mle")
LOCATIONS = ("mean", "median")
SAMPLERS = ("stats", "points")
UNBOUNDED = ("w2", "mean_sq", "trace", "sigma")  # multiplicative: means carried by rare chains late on
TRAJECTORY_CHAINS = 8  # chains whose (μ, Σ) are recorded by default (for the ellipse plot)
MAX_POOL_ELEMENTS = 1 << 28  # the explicit points (chains x points x d) the points sampler may hold


def check_sizes(process: Process, d: int, estimator: str, singular_ok: bool = False) -> bool:
    """Every fit needs M ≥ 2 for the unbiased estimator, and M ≥ d + 1 points unless ``singular_ok``
    (then M ≥ 2); with accumulate only the first fit sees fewer than the pool. Returns whether some
    fit is singular (M ≤ d)."""
    G = process.generations
    if not G:
        return False
    smallest, worst, _, _ = process.schedule.extremes(1 if process.workflow == "accumulate" else G)
    if estimator == "unbiased" and smallest < 2:
        raise InputError(f"the unbiased estimator divides the scatter by M - 1 and needs M >= 2; "
                         f"M_{worst} = {smallest}")
    if smallest <= d and not singular_ok:
        raise InputError(f"M_{worst} = {smallest} <= d = {d}: a covariance fitted to M <= d points is singular "
                         f"(rank M - 1 < d); singular fits run with sampler='points', workflow 'replace' or "
                         f"'accumulate', gamma = 0 and a Gaussian, student-t or mixture D_0; otherwise every fit "
                         f"needs M >= d + 1 = {d + 1}")
    if smallest < 2:
        raise InputError(f"M_{worst} = {smallest}: a fit to one point is a point mass; a singular fit needs M >= 2")
    return smallest <= d


def check_spectral_every(spectral_every: "int | str") -> "int | str":
    """'log' or an integer k ≥ 0."""
    if isinstance(spectral_every, str) and spectral_every == "log":
        return "log"
    return as_int("spectral_every", spectral_every, minimum=0)


def _columns(process: Process, estimator: str):
    """The Gaussian family's per-generation inputs beyond the process's own."""

    def columns(start: int, stop: int) -> dict[str, np.ndarray]:
        table = process.table(start, stop)
        m = table["m"].astype(np.float64)
        pool = table["pool"].astype(np.float64)
        n_prev = pool - m
        fitted = pool if process.workflow == "accumulate" else m
        with np.errstate(divide="ignore"):
            log_div_prev = np.log(np.maximum(divisor(n_prev, estimator), 1.0))
        return {"m": m, "nu": m - 1.0, "inv_sqrt_m": 1.0 / np.sqrt(m), "log_div": np.log(divisor(fitted, estimator)),
                "n_prev": n_prev, "log_div_prev": log_div_prev,
                "first": (np.arange(start, stop) == 0).astype(np.float64)}

    return columns


def prepare(mean0: Any = None, cov0: Any = None, *, process: Process, estimator: str = "unbiased",
            sampler: str = "stats", original: "str | Original | None" = "gaussian", dtype: str = "float32",
            spectral_every: "int | str" = "log", chains: int = 1, location: str = "mean") -> Prepared:
    """The validated run (also how the sweep turns a grid point into lanes)."""
    choice("estimator", estimator, ESTIMATORS)
    choice("sampler", sampler, SAMPLERS)
    choice("location", location, LOCATIONS)
    dtype = simulation.check_dtype(dtype)
    spectral_every = check_spectral_every(spectral_every)
    orig = make_original(original, mean0, cov0)
    d = orig.dim
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the Gaussian family: the previous generation's data "
                         "distribution is a mixture of every earlier fit, so an exact state would grow with the "
                         "generations; use gamma (original data) or workflow='accumulate'")
    if sampler == "stats" and orig.kind != "gaussian":
        raise InputError(f"original {orig.describe()!r} is not Gaussian: the sufficient-statistic sampler needs "
                         "Gaussian data; use sampler='points'")
    if sampler == "stats" and process.workflow == "accumulate-subsample":
        raise InputError("workflow 'accumulate-subsample' draws a subset of explicit points from the pool; "
                         "it needs sampler='points' (sufficient statistics cannot subsample)")
    if location == "median":
        require(sampler == "points", "location='median' needs the points (the coordinate-wise median is not a "
                                     "function of the sufficient statistics); use sampler='points'")
        require(process.workflow != "accumulate",
                "location='median' with workflow 'accumulate' would need every earlier generation's points; "
                "use workflow 'replace' or 'accumulate-subsample'")
    singular_ok = (sampler == "points" and process.workflow in ("replace", "accumulate")
                   and not process.mixing.uses("gamma") and orig.kind != "data")
    singular = check_sizes(process, d, estimator, singular_ok)
    common = dict(dim=d, dtype=dtype, workflow=process.workflow, uses_gamma=process.mixing.uses("gamma"),
                  spectral_every=spectral_every, isotropic_reference=is_isotropic(orig.cov))
    params: dict[str, Any] = {"ref": reference(orig.mean, orig.cov), "last": np.int32(process.generations)}
    if sampler == "stats":
        smallest = process.schedule.extremes(process.generations)[0] if process.generations else d + 1
        kernel = StatsKernel(**common, chi2_rounds=chi2_rounds(chains, d, smallest))
    else:
        G = process.generations
        m_max = process.schedule.extremes(G)[2] if G else 1
        pool_len = process.schedule.prefix_sum(G) + m_max if process.workflow == "accumulate-subsample" else 0
        elements = chains * max(m_max, pool_len) * d
        require(elements <= MAX_POOL_ELEMENTS,
                f"the explicit-points sampler would hold {elements:.3g} numbers per generation (chains x points "
                f"x d); at most {MAX_POOL_ELEMENTS:.3g}: use fewer chains or sampler='stats'")
        kernel = PointsKernel(**common, m_max=m_max, pool_len=pool_len, original=orig.kind, df=orig.df,
                              location=location, singular=singular)
        params["original"] = orig.arrays()
    config = {"dim": d, "estimator": estimator, "sampler": sampler, "spectral_every": spectral_every,
              "original": orig.to_config(), "location": location}
    return Prepared(kernel, params, process, config, dtype, columns=_columns(process, estimator),
                    resolved={"original": orig})


def simulate(
    mean0: Any = None,
    cov0: Any = None,
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
    record_every: int | None = None,
    record_chains: int | None = TRAJECTORY_CHAINS,
    estimator: str = "unbiased",
    sampler: str = "stats",
    original: "str | Original | None" = "gaussian",
    spectral_every: "int | str" = "log",
    dtype: str = "float32",
    location: str = "mean",
    progress: bool = True,
) -> SimulationResult:
    """Simulate ``chains`` independent recursive Gaussian fits (the paper's Theorem 3.1).

    ``mean0`` (d,) and ``cov0`` (d, d) (or a scalar variance) define D_0 = N(mean0, cov0), or its
    first two moments for ``original='student-t:DF'`` / ``'mixture:SEP'``; pass an :class:`Original`
    (``data_original(array)``, ``mixture_original(...)``) instead of mean0/cov0 for the others.
    The process: ``process=`` or its keywords (``samples`` M, default 100; ``generations``, 100;
    ``schedule``, ``workflow``, ``alpha``/``beta``/``gamma``). ``estimator``: ``'unbiased'``
    (divide the scatter by M−1, the theorem's) or ``'mle'`` (by M, the notebooks' and
    Collapse-or-Thrive's). ``sampler``: ``'stats'`` (sufficient statistics, cost independent of M)
    or ``'points'`` (explicit points; any D_0, accumulate-subsample). ``location``: ``'mean'``
    (the sample mean) or ``'median'`` (the coordinate-wise sample median, Dey & Donoho; for even M
    the mean of the two middle order statistics); the covariance is the scatter about the sample
    mean either way. The median needs the points: it is refused with ``sampler='stats'`` (no
    automatic switch) and with workflow ``'accumulate'``.

    Singular fits (some M_i ≤ d, e.g. the MLE with d ≥ M as Collapse-or-Thrive runs) work with
    ``sampler='points'``, workflow ``'replace'`` or ``'accumulate'``, γ = 0 and a Gaussian,
    Student-t or mixture D_0: Σ_n has rank ≤ M − 1 and collapse goes on in that subspace;
    ``logdet`` and ``log_eig_min`` are −inf there, ``w2``, ``trace`` and ``log_eig_max`` stay finite.

    Metrics (rows, chains), a row every ``metrics_every`` generations: ``w2`` (W₂² to D_0's
    Gaussian fit), ``mean_sq`` = ‖μ_n − μ_0‖², ``logdet``, ``trace``, ``log_trace``,
    ``log_eig_max``, ``log_eig_min`` and, in 1-D, ``sigma``. The spectral ones (``w2`` for d > 1 and
    the eigenvalues) need an exact singular-value decomposition per chain (a Jacobi SVD, several
    times the cost of a generation), so by default (``spectral_every='log'``) they are computed at
    every generation up to 16, then at 4 log-spaced generations per doubling, and at the last:
    exact there, NaN elsewhere (enough for any curve on a log axis and the rates (1/n) ln λ).
    ``spectral_every=k`` computes them every k-th generation and at the last (1 = every
    generation), 0 leaves them out. ``predictions`` hold every exact expectation known for the
    configuration. ``final`` holds every chain's ``mean`` and ``cov`` (and the collapse-safe factors
    ``unit_lower``, ``log_chol_diag``: Σ = U diag(e^{2ℓ}) Uᵀ). ``trajectory`` keeps (μ, U, ℓ) of the
    first ``record_chains`` chains at every ``record_every``-th generation (default: every row).
    """
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": 100, "generations": 100})
    prepared = prepare(mean0, cov0, process=process, estimator=estimator, sampler=sampler, original=original,
                       dtype=dtype, spectral_every=spectral_every, chains=chains, location=location)
    record_every = as_int("metrics_every", metrics_every, minimum=1) if record_every is None else record_every
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)
    orig = prepared.resolved["original"]

    def finish(out: Output) -> SimulationResult:
        config = simulation.run_config(prepared, **run, output=out)
        state, ax = out.state, prepared.kernel.chain_axis
        final = chains_first({"mean": np.asarray(state.mean), "unit_lower": np.asarray(state.unit_lower),
                              "log_chol_diag": np.asarray(state.log_chol_diag)}, ax)
        final["cov"] = covariance_of(final["unit_lower"], final["log_chol_diag"])
        preds = predictions(orig, process, estimator, out.rows, location=location)
        trajectory = dict(chains_first(out.trajectory, ax, lead=1), generation=out.snapshot_rows) \
            if out.trajectory else {}
        return SimulationResult("gaussian", config, out.metrics, rows=out.rows, final=final, trajectory=trajectory,
                                predictions={k: v for k, v in preds.items() if k in out.metrics},
                                unbounded=UNBOUNDED)

    return simulation.simulate("gaussian", prepared, finish, record_chains=record_chains, progress=progress, **run)


COMPARE_SCHEDULES = ("constant", "linear", "poly:1.5", "geometric")


def compare_schedules(mean0, cov0, *, samples: int, generations: int, chains: int, seed: int = 0,
                      estimator: str = "unbiased", dtype: str = "float32", progress: bool = False,
                      schedules: Sequence[str] = COMPARE_SCHEDULES) -> dict[str, SimulationResult]:
    """The same configuration under several schedules (sufficient statistics, no spectral metrics).
    A bare ``geometric`` picks the ratio that grows M to at most 10⁶ by the last generation."""
    samples = as_int("samples", samples, minimum=1)
    generations = as_int("generations", generations, minimum=1)
    out = {}
    for spec in schedules:
        if spec == "geometric":
            ratio = min(1.1, (1e6 / samples) ** (1.0 / max(generations - 1, 1)))
            spec = f"geometric:{ratio:.6g}"
        out[spec] = simulate(mean0, cov0, samples=samples, generations=generations, chains=chains, seed=seed,
                             estimator=estimator, schedule=spec, dtype=dtype, spectral_every=0, progress=progress,
                             record_every=0)
    return out




def _sweep_prepare(params, generations: int) -> Prepared:
    process = Process.resolve(samples=params["samples"], generations=generations, schedule=params["schedule"],
                              workflow=params["workflow"], alpha=params["alpha"], gamma=params["gamma"])
    d = as_int("dim", params["dim"], minimum=1)
    variance = float(params["variance"])
    require(variance > 0, f"variance must be > 0, got {variance}")
    return prepare(np.zeros(d), variance * np.eye(d), process=process, estimator=params["estimator"],
                   sampler=params["sampler"], original=params["original"], dtype=params["dtype"],
                   spectral_every=params["spectral_every"], location=params["location"])


def _sweep_predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    orig, estimator = prepared.resolved["original"], prepared.config["estimator"]
    preds = predictions(orig, prepared.process, estimator, rows, location=prepared.config["location"])
    return {k: (v, "exact") for k, v in preds.items()}


SWEEP = Sweepable(
    name="gaussian",
    defaults={"dim": 1, "variance": 1.0, "samples": 100, "schedule": "constant", "workflow": "replace",
              "alpha": None, "gamma": 0.0, "estimator": "unbiased", "sampler": "stats", "original": "gaussian",
              "spectral_every": 1, "dtype": "float32", "location": "mean"},
    prepare=_sweep_prepare,
    metrics=("w2", "mean_sq", "logdet", "trace", "log_trace", "log_eig_max", "log_eig_min", "sigma"),
    predictions=_sweep_predictions,
    unbounded=UNBOUNDED,
    cost=lambda prepared: 400.0 * prepared.config["dim"] ** 2 * (
        1 if prepared.config["sampler"] == "stats" else max(1, int(prepared.process.schedule.samples) // 10)),
)


__all__ = ["simulate", "prepare", "compare_schedules", "check_sizes", "SWEEP", "ESTIMATORS", "SAMPLERS", "LOCATIONS"]
