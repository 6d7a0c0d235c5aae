"""From a family's validated run to a :class:`SimulationResult`: the driver every ``simulate`` uses.

A family's ``simulate`` validates its inputs into a :class:`Prepared` run (kernel, parameters,
per-generation table, config) and calls :func:`simulate`, which makes the chains' keys, runs the
engine (in double precision when asked), and hands the engine's output back to the family's
``finish`` to assemble the result. Ctrl-C keeps the generations completed so far: the partial
result rides on the :class:`Interrupted` exception.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import jax
import numpy as np

from . import engine, streams
from .errors import InputError, as_int, choice
from .kernel import Kernel, Params
from .process import Process
from .results import SimulationResult

DTYPES = ("float32", "float64")
SIZES_IN_CONFIG = 10_000  # a config lists every M_i up to this many generations


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during ``simulate``: ``result`` holds the generations completed before it
    (``result.config['generations_done']``)."""

    def __init__(self, result: SimulationResult):
        super().__init__("interrupted")
        self.result = result


@dataclass
class Prepared:
    """A family's run, validated and ready for the engine (or for a sweep's lanes)."""

    kernel: Kernel
    params: dict[str, Any]  # shared parameters (arrays), as the kernel reads them
    process: Process
    config: dict[str, Any]  # the family's resolved options (the result's config adds the run's)
    dtype: str = "float32"
    columns: Callable[[int, int], Mapping[str, np.ndarray]] | None = None  # family inputs beyond the process's
    resolved: dict[str, Any] = field(default_factory=dict)  # family objects its predictions need (not config)

    def table(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The per-generation inputs of generations start .. stop-1, one column (leaves (n,))."""
        out = self.process.table(start, stop)
        if self.columns is not None:
            out.update(self.columns(start, stop))
        return out


def resolve_process(process: Process | None, *, samples=None, generations=None, schedule=None, workflow=None,
                    alpha=None, beta=None, gamma=None, defaults: Mapping[str, Any]) -> Process:
    """``process=`` or its keywords (not both); keywords left at None take the family's
    ``defaults`` (then: constant schedule, replace, beta = gamma = 0, alpha = 1 - beta - gamma)."""
    given = {k: v for k, v in dict(samples=samples, generations=generations, schedule=schedule, workflow=workflow,
                                   alpha=alpha, beta=beta, gamma=gamma).items() if v is not None}
    if process is not None:
        if not isinstance(process, Process):
            raise InputError(f"process must be a collapse_jax.Process, got {type(process).__name__}")
        if given:
            raise InputError(f"give process= or its keywords ({', '.join(sorted(given))}), not both")
        return process
    kw = {**dict(samples=None, generations=100, schedule="constant", workflow="replace", alpha=None, beta=0.0,
                 gamma=0.0), **defaults, **given}
    return Process.resolve(**kw)


def check_dtype(dtype: str) -> str:
    return choice("dtype", dtype, DTYPES)


def x64(dtype: str):
    """The precision context of a run: float64 runs enable JAX's 64-bit mode for their duration."""
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def simulate(
    family: str,
    prepared: Prepared,
    finish: Callable[[engine.Output], SimulationResult],
    *,
    chains: int,
    seed: int,
    first_chain: int = 0,
    metrics_every: int = 1,
    record_every: int = 0,
    record_chains: int | None = None,
    progress: bool = True,
    driver: Callable[..., engine.Output] = engine.run,
) -> SimulationResult:
    """Run ``prepared`` for ``chains`` chains (indices ``first_chain ...``) and assemble the result.

    ``finish(output)`` builds the family's :class:`SimulationResult` from the engine's output; it
    gets ``output.generations_done < generations`` after Ctrl-C, and the partial result is raised
    as :class:`Interrupted`. ``driver`` is :func:`engine.run` or another function with its
    arguments and result (:func:`collapse_jax.core.async_engine.run_async` for iterative kernels)."""
    chains, first_chain = streams.check_chains(chains, first_chain)
    seed = streams.check_seed(seed)
    metrics_every = as_int("metrics_every", metrics_every, minimum=1)
    record_every = as_int("record_every", record_every, minimum=0)
    generations = prepared.process.generations
    if generations > streams.MAX_GENERATIONS:
        raise InputError(f"generations must be below 2^31 (generation indices are 32-bit stream addresses), "
                         f"got {generations}")
    with x64(prepared.dtype):
        keys = streams.chain_keys(seed, chains, first_chain)
        params = Params(dict(prepared.params, column=np.int32(0)), {})

        def table(start: int, stop: int) -> dict[str, np.ndarray]:
            return {k: np.asarray(v)[:, None] for k, v in prepared.table(start, stop).items()}

        try:
            out = driver(prepared.kernel, params, keys, table, generations=generations,
                             metrics_every=metrics_every, record_every=record_every, record_chains=record_chains,
                             progress=progress, desc=family)
        except engine.Interrupted as stop:
            raise Interrupted(finish(stop.output)) from None
        return finish(out)


def run_config(prepared: Prepared, *, chains: int, seed: int, first_chain: int, metrics_every: int,
               record_every: int, output: engine.Output) -> dict[str, Any]:
    """The result's config: the family's options, the process, and how this run was made."""
    cfg = {**prepared.config, "process": prepared.process.to_config(), "chains": chains, "seed": seed,
           "first_chain": first_chain, "metrics_every": metrics_every, "record_every": record_every,
           "dtype": prepared.dtype}
    if prepared.process.generations <= SIZES_IN_CONFIG:
        cfg["sizes"] = prepared.process.sizes().tolist()
    if output.generations_done < prepared.process.generations:
        cfg["generations_done"] = output.generations_done
    return cfg


__all__ = ["Prepared", "Interrupted", "simulate", "resolve_process", "run_config", "check_dtype", "x64", "DTYPES"]
