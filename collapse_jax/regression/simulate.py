"""``regression.simulate``: validate, run the regression kernel on the engine, assemble the result."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core import simulation, streams
from ..core.engine import Output
from ..core.errors import InputError, as_float, as_int, choice, require
from ..core.process import CHECK_ALL, Process, Weight
from ..core.results import SimulationResult
from ..core.simulation import Prepared
from ..core.sweepable import Sweepable
from .kernel import METRICS, RegressionKernel
from .theory import predictions

DESIGNS = ("fresh", "fixed")
UNBOUNDED = ("test_error",)  # inverse-Wishart tails: heavy when T − d is small
MAX_ROW_ELEMENTS = 1 << 28  # chains × (rows per generation + pooled rows) × d held at once
DEFAULT_DIM = 10


def shared_draws(design_seed: int, rows: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, w*): a T × d design and true weights w* ~ N(0, I_d), from the named stream 'design' of
    ``design_seed`` (float32 draws, so both precisions share them)."""
    key = streams.stream(streams.root_key(design_seed), "design")
    k_x, k_w = jax.random.split(key)
    X = np.asarray(jax.random.normal(k_x, (rows, d), jnp.float32), np.float64)
    return X, np.asarray(jax.random.normal(k_w, (d,), jnp.float32), np.float64)


def _noise(noise: Any, generations: int) -> tuple[Weight, np.ndarray]:
    """The label noise σ_t (a number or a schedule, like the mixing weights) and its values."""
    weight = Weight.parse("noise", noise)
    probe = np.unique(np.linspace(0, generations - 1, min(generations, CHECK_ALL)).astype(np.int64)) \
        if generations else np.zeros(0, np.int64)
    values = weight.at_generations(probe, generations)
    bad = (values < 0) | ~np.isfinite(values)
    if bad.any():
        raise InputError(f"noise must be finite and >= 0, got {values[np.argmax(bad)]:.6g}"
                         + ("" if weight.constant else f" at generation {int(probe[np.argmax(bad)])}"))
    return weight, weight.at(0, generations, generations) if generations <= CHECK_ALL else values


def prepare(w_star: Any = None, *, dim: int | None = None, process: Process, noise: Any = 1.0, ridge: float = 0.0,
            design: str = "fresh", design_seed: int = 0, dtype: str = "float32", chains: int = 1) -> Prepared:
    """The validated run (also how the sweep turns a grid point into lanes)."""
    choice("design", design, DESIGNS)
    dtype = simulation.check_dtype(dtype)
    ridge = as_float("ridge", ridge, minimum=0.0)
    design_seed = streams.check_seed(design_seed, "design_seed")
    if w_star is not None:
        try:
            w = np.asarray(w_star, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"w_star must be a vector of numbers, got {w_star!r}") from None
        require(w.size >= 1 and bool(np.all(np.isfinite(w))), "w_star must be a non-empty finite vector")
        if dim is not None and as_int("dim", dim, minimum=1) != w.size:
            raise InputError(f"dim = {dim} conflicts with w_star, which has {w.size} entries; give one or make "
                             "them agree")
    d = as_int("dim", DEFAULT_DIM if dim is None else dim, minimum=1) if w_star is None else w.size
    G = process.generations
    if process.mixing.uses("beta"):
        raise InputError("beta > 0 is not supported by the regression family: the previous generation's labels "
                         "come from a mixture of every earlier fit; use gamma (real labels) or "
                         "workflow='accumulate'")
    sizes = process.schedule
    if design == "fixed" and sizes.kind != "constant":
        raise InputError(f"design='fixed' reuses one T x d design every generation; it needs a constant "
                         f"schedule, got {sizes.describe()!r}")
    if ridge == 0 and G:
        smallest, worst, _, _ = sizes.extremes(1 if process.workflow == "accumulate" else G)
        if smallest < d:
            raise InputError(f"least squares needs at least d = {d} rows per fit, but T_{worst} = {smallest}; "
                             "use more samples or ridge > 0")
    rows = sizes.extremes(G)[2] if G else 1
    pool_len = sizes.prefix_sum(G) + rows if process.workflow == "accumulate-subsample" else 0
    held = chains * (rows + pool_len) * d
    require(held <= MAX_ROW_ELEMENTS, f"the run would hold {held:.3g} numbers per generation (chains x rows x d); "
                                      f"at most {MAX_ROW_ELEMENTS:.3g}: use fewer chains or samples")
    noise_weight, sigmas = _noise(noise, G)
    X, w_drawn = shared_draws(design_seed, rows, d)
    w = w_drawn if w_star is None else w
    kernel = RegressionKernel(dim=d, dtype=dtype, workflow=process.workflow, uses_gamma=process.mixing.uses("gamma"),
                              fixed_design=design == "fixed", rows=rows, pool_len=pool_len)
    params = {"ridge": np.float64(ridge), "w_star": w, "design": X if design == "fixed" else np.zeros((0, d))}

    def columns(start: int, stop: int) -> dict[str, np.ndarray]:
        table = process.table(start, stop)
        return {"sigma": noise_weight.at(start, stop, G), "n_prev": table["pool"] - table["m"]}

    config = {"dim": d, "noise": noise_weight.describe(), "ridge": ridge, "design": design,
              "design_seed": design_seed, "w_star": w.tolist()}
    return Prepared(kernel, params, process, config, dtype, columns=columns,
                    resolved={"sigmas": sigmas, "X": X if design == "fixed" else None, "w_star": w})


def _predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, np.ndarray]:
    res, cfg = prepared.resolved, prepared.config
    if res["sigmas"].size != prepared.process.generations:  # a noise schedule too long to tabulate
        return {}
    return predictions(prepared.process, cfg["dim"], res["sigmas"], ridge=cfg["ridge"], X=res["X"],
                       w_star=res["w_star"], rows=rows)


def simulate(
    w_star: Any = None,
    *,
    dim: int | None = None,
    noise: Any = 1.0,
    ridge: float = 0.0,
    design: str = "fresh",
    design_seed: int = 0,
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
    """Simulate ``chains`` independent chains of linear regressions, each fitted to labels made by
    its predecessor (Gerstgrasser et al. 2024; Dohmatob et al. 2024).

    ``w_star``: the true weights (a vector; default: drawn N(0, I_dim) from the named stream
    'design' of ``design_seed``), ``dim`` d (default 10). Each generation draws a design of T_t =
    M_t rows (``samples``, default 40; ``schedule``), labels y = X ŵ + N(0, σ_t²) (``noise`` σ: a
    number or a schedule such as ``'list:0.5,0.5,1'``; a share ``gamma`` of rows real, y = X w* +
    noise; generation 0 is all real), and refits least squares, or ridge with ``ridge`` λ > 0.
    ``design``: ``'fresh'`` (i.i.d. N(0, 1) entries per chain and generation) or ``'fixed'`` (one
    design reused by every generation and chain, as Gerstgrasser et al. and Collapse-or-Thrive do).
    ``workflow``: replace, accumulate or accumulate-subsample.

    Metric ``test_error`` = ‖ŵ − w*‖² (the excess test error for isotropic inputs), (rows, chains).
    ``predictions``: its exact expectation where known (docs/THEORY.md §5.1): a fixed design (given
    the design; replace or accumulate, any λ, γ_t, σ_t) or a fresh design with least squares
    (replace with any γ_t; accumulate without real rows). ``final['w_hat']``: the last fits;
    ``record_every = k`` keeps the first ``record_chains`` chains' ŵ − w* (``trajectory['err']``).
    Chain c's path depends only on (seed, c); ``first_chain`` runs chains of a larger run exactly.
    """
    process = simulation.resolve_process(process, samples=samples, generations=generations, schedule=schedule,
                                         workflow=workflow, alpha=alpha, beta=beta, gamma=gamma,
                                         defaults={"samples": 40, "generations": 100})
    prepared = prepare(w_star, dim=dim, process=process, noise=noise, ridge=ridge, design=design,
                       design_seed=design_seed, dtype=dtype, chains=chains)
    run = dict(chains=chains, seed=seed, first_chain=first_chain, metrics_every=metrics_every,
               record_every=record_every)

    def finish(out: Output) -> SimulationResult:
        config = simulation.run_config(prepared, **run, output=out)
        w = prepared.resolved["w_star"]
        trajectory = dict(out.trajectory, generation=out.snapshot_rows) if out.trajectory else {}
        return SimulationResult("regression", config, out.metrics, rows=out.rows,
                                final={"w_hat": w + np.asarray(out.state.err, np.float64)},
                                predictions=_predictions(prepared, out.rows), trajectory=trajectory,
                                unbounded=UNBOUNDED)

    return simulation.simulate("regression", prepared, finish, record_chains=record_chains, progress=progress, **run)


def _sweep_prepare(params, generations: int) -> Prepared:
    process = Process.resolve(samples=params["samples"], generations=generations, schedule=params["schedule"],
                              workflow=params["workflow"], alpha=params["alpha"], gamma=params["gamma"])
    return prepare(None, dim=params["dim"], process=process, noise=params["noise"], ridge=params["ridge"],
                   design=params["design"], design_seed=params["design_seed"], dtype=params["dtype"])


def _sweep_predictions(prepared: Prepared, rows: np.ndarray) -> dict[str, tuple[np.ndarray, str]]:
    return {k: (v, "exact") for k, v in _predictions(prepared, rows).items()}


def _cost(prepared: Prepared) -> float:
    k = prepared.kernel
    return 50.0 + 2.0 * k.rows * k.dim * (k.dim + 2) + 4.0 * k.dim**3 + 8.0 * k.pool_len


SWEEP = Sweepable(
    name="regression",
    defaults={"dim": DEFAULT_DIM, "samples": 40, "schedule": "constant", "workflow": "replace", "alpha": None,
              "gamma": 0.0, "noise": 1.0, "ridge": 0.0, "design": "fresh", "design_seed": 0, "dtype": "float32"},
    prepare=_sweep_prepare,
    metrics=METRICS,
    predictions=_sweep_predictions,
    unbounded=UNBOUNDED,
    cost=_cost,
)


__all__ = ["simulate", "prepare", "shared_draws", "SWEEP", "DESIGNS", "UNBOUNDED"]
