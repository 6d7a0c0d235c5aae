"""Parameter sweeps at scale: a whole grid as one vectorised computation, resumable, one tidy table.

    >>> from collapse_jax import sweep
    >>> res = sweep.run({"family": "discrete", "generations": 50, "chains": 200,
    ...                  "fixed": {"states": 20, "init": "zipf:1.1"},
    ...                  "grid": {"samples": [20, 100], "gamma": [0.0, 0.1]}}, out="runs/my-sweep")
    >>> res.rows[0]["metric"]

A config (a dict, or a TOML file for ``collapse-jax sweep CONFIG.toml``) names the family, the
generations, chains per point, the seeds and three kinds of parameters:

- ``[fixed]``: one value each;
- ``[grid]``: a non-empty list each; the sweep runs their Cartesian product;
- ``[[cases]]``: optional tables of values that go together (e.g. a workflow with its γ); the
  product above is crossed with the list of cases.

**Vectorised.** For the discrete family every grid point with the same state count K, workflow
and dtype joins one kernel: (grid point × chain) is flattened into the kernel's chain axis and the
per-point parameters (sample-size schedule, α/β/γ, initial distribution) ride along as per-lane
arrays. Each such *group* compiles once. Gaussian points that share d, D_0, workflow, α/γ and
sampler form one group the same way, with the schedule and the estimator per lane (γ changes the
Gaussian step's code, so each γ is its own group); ``accumulate-subsample`` keeps an explicit
pool per chain and runs one kernel per point.

**Addressable.** Chain c of a point uses ``fold_in(key(rng_seed), c)`` where ``rng_seed`` is
derived from (seed, the point's parameters) (``streams = "independent"``, the default) or is the
seed itself (``streams = "common"``: common random numbers across points). So the point's chains
are exactly ``discrete.simulate(..., seed=rng_seed, first_chain=c)``, on 1 or N devices.

**Nothing lost.** Lanes are cut into chunks (``chunk_lanes`` lanes each) that are written
atomically to ``chunks/`` as they finish; ``sweep.json`` records the resolved config and plan.
Running again resumes: finished chunks are verified and skipped. A different config under the
same directory is refused, naming the keys that differ.

**Tidy.** ``summary.csv`` (and ``summary.parquet`` when pyarrow is importable) has one row per
(point, recorded generation, metric): mean, standard error, quantiles, the closed-form prediction
where one exists and its z-score; ``points.csv`` lists the points; the chunk files hold the raw
per-chain values (:func:`load_chains`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .core import rundir
from .core.errors import InputError, as_float, as_int, choice, require
from .core.process import Process
from .core.results import QUANTILES, mean_and_se

FAMILIES = ("discrete", "gaussian")
STREAMS = ("independent", "common")
TOP_KEYS = ("family", "generations", "chains", "seeds", "seed", "record_every", "metrics", "chunk_lanes",
            "streams", "fixed", "grid", "cases", "name", "description", "experiment", "scales", "scale", "format")
DISCRETE_PARAMS = {
    "states": 100, "init": "zipf:1.1", "samples": 100, "schedule": "constant", "workflow": "replace",
    "alpha": None, "beta": 0.0, "gamma": 0.0, "tail_quantile": 0.1, "dtype": "float32",
}
GAUSSIAN_PARAMS = {
    "dim": 1, "variance": 1.0, "samples": 100, "schedule": "constant", "workflow": "replace", "alpha": None,
    "gamma": 0.0, "estimator": "unbiased", "sampler": "stats", "original": "gaussian", "spectral_every": 1,
    "dtype": "float32",
}
PARAMS = {"discrete": DISCRETE_PARAMS, "gaussian": GAUSSIAN_PARAMS}
DEFAULT_METRICS = {
    "discrete": ("gini_simpson", "entropy", "surviving", "tv", "kl", "tail_lost", "absorbed"),
    "gaussian": ("w2", "mean_sq", "logdet", "trace", "log_trace", "log_eig_max", "log_eig_min", "sigma"),
}
DEFAULT_CHUNK_LANES = 1 << 17
FORMAT_VERSION = 1
TABLE_COLUMNS = ("generation", "metric", "chains", "mean", "se", "q05", "q50", "q95", "prediction",
                 "prediction_kind", "z")


# ---------------------------------------------------------------------------------------------
# Config


def load_config(source: "str | os.PathLike | Mapping[str, Any]", scale: str | None = None) -> dict[str, Any]:
    """Read (TOML path or dict), apply ``[scales.NAME]`` overrides, validate, fill defaults."""
    if isinstance(source, Mapping):
        raw = json.loads(json.dumps(dict(source), default=_plain))
    else:
        import tomllib

        path = Path(source)
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as err:
            raise InputError(f"cannot read sweep config {str(path)!r}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"sweep config {str(path)!r} is not valid TOML: {err}") from None
    scales = raw.pop("scales", {}) or {}
    require(isinstance(scales, Mapping), "config key 'scales' must be a table of named overrides")
    if scale is None:
        scale = raw.pop("scale", None)
    else:
        raw.pop("scale", None)
    if scale not in (None, "default") and not (scale not in scales and "format" in raw):  # resolved already
        require(scale in scales, f"unknown scale {scale!r}; this config defines: {', '.join(scales) or 'none'}")
        raw = _merge(raw, scales[scale])
    cfg = _validate(raw)
    cfg["scale"] = scale or "default"
    return cfg


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not a plain config value: {type(obj).__name__}")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise InputError(f"unknown config key {unknown[0]!r}; expected some of: {', '.join(TOP_KEYS)}")
    family = choice("family", raw.get("family", "discrete"), FAMILIES)
    params = PARAMS[family]
    require("generations" in raw, "config key 'generations' is required")
    generations = as_int("generations", raw["generations"], minimum=1)
    chains = as_int("chains", raw.get("chains", 1000), minimum=1)
    require(not ("seed" in raw and "seeds" in raw), "give either 'seed' or 'seeds', not both")
    seeds = raw.get("seeds", [raw.get("seed", 0)])
    require(isinstance(seeds, list) and len(seeds) > 0, "config key 'seeds' must be a non-empty list of integers")
    seeds = [as_int("seeds", s, minimum=0) for s in seeds]
    require(len(set(seeds)) == len(seeds), f"config key 'seeds' has repeated values: {seeds}")
    record_every = as_int("record_every", raw.get("record_every", max(1, generations // 100)), minimum=1)
    chunk_lanes = as_int("chunk_lanes", raw.get("chunk_lanes", DEFAULT_CHUNK_LANES), minimum=1)
    streams = choice("streams", raw.get("streams", "independent"), STREAMS)
    metrics = raw.get("metrics", list(DEFAULT_METRICS[family]))
    require(isinstance(metrics, list) and metrics, "config key 'metrics' must be a non-empty list of names")
    for m in metrics:
        choice("metric", m, DEFAULT_METRICS[family])
    fixed = raw.get("fixed", {}) or {}
    grid = raw.get("grid", {}) or {}
    cases = raw.get("cases", []) or []
    require(isinstance(fixed, Mapping), "config key 'fixed' must be a table of parameter = value")
    require(isinstance(grid, Mapping), "config key 'grid' must be a table of parameter = [values]")
    require(isinstance(cases, list) and all(isinstance(c, Mapping) for c in cases),
            "config key 'cases' must be a list of tables ([[cases]])")
    for where, names in (("fixed", fixed), ("grid", grid), *((f"cases[{i}]", c) for i, c in enumerate(cases))):
        for name in names:
            if name not in params:
                raise InputError(f"unknown {family} parameter {where}.{name!r}; expected one of: {', '.join(params)}")
    for name, values in grid.items():
        require(isinstance(values, list), f"grid.{name} must be a list of values, got {values!r}")
        require(len(values) > 0, f"grid.{name} is empty: give at least one value")
    overlap = sorted(set(fixed) & set(grid))
    if overlap:
        raise InputError(f"parameter {overlap[0]!r} is both fixed and in the grid")
    for name in ("samples", "gamma", "beta", "alpha", "states", "dim", "variance", "tail_quantile"):
        for v in grid.get(name, []):
            require(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
                    f"grid.{name} must hold numbers, got {v!r}")
    return {
        "family": family, "generations": generations, "chains": chains, "seeds": seeds,
        "record_every": min(record_every, generations), "metrics": list(metrics), "chunk_lanes": chunk_lanes,
        "streams": streams, "fixed": dict(fixed), "grid": {k: list(v) for k, v in grid.items()},
        "cases": [dict(c) for c in cases], "name": str(raw.get("name", "")),
        "description": str(raw.get("description", "")), "experiment": str(raw.get("experiment", "")),
        "format": FORMAT_VERSION,
    }


# ---------------------------------------------------------------------------------------------
# Points and their resolution


@dataclass
class Point:
    """One grid point: its parameters (every one, defaults filled in), seed and stream seed."""

    index: int
    seed: int
    rng_seed: int
    params: dict[str, Any]
    resolved: Any = field(default=None, repr=False)


def _stream_seed(seed: int, params: Mapping[str, Any], streams: str) -> int:
    if streams == "common":
        return seed
    text = json.dumps({"seed": seed, "params": params}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def points_of(cfg: Mapping[str, Any]) -> list[Point]:
    """Every grid point, each validated as the single-run API would. Order: the product of the grid
    parameters in alphabetical order (the last fastest), then the cases, then the seeds."""
    import itertools

    family = cfg["family"]
    names = sorted(cfg["grid"])  # a canonical order: the stored (sorted JSON) config gives the same plan
    cases = cfg["cases"] or [{}]
    out: list[Point] = []
    for combo in itertools.product(*(cfg["grid"][n] for n in names)):
        for case in cases:
            for seed in cfg["seeds"]:
                params = {**PARAMS[family], **cfg["fixed"], **dict(zip(names, combo)), **case}
                index = len(out)
                point = Point(index, seed, _stream_seed(seed, params, cfg["streams"]), params)
                try:
                    point.resolved = _RESOLVE[family](params, cfg)
                except InputError as err:
                    varying = {n: params[n] for n in (*names, *case)}
                    raise InputError(f"grid point {index} {varying}: {err}") from None
                out.append(point)
    return out


def _resolve_discrete(params: Mapping[str, Any], cfg: Mapping[str, Any]):
    from . import discrete

    states = as_int("states", params["states"], minimum=2)
    p0 = discrete.initial_distribution(params["init"], states)
    require(p0.size == states, f"init {params['init']!r} has {p0.size} states but states = {states}")
    proc = Process.resolve(samples=params["samples"], generations=cfg["generations"], schedule=params["schedule"],
                           workflow=params["workflow"], alpha=params["alpha"], beta=params["beta"],
                           gamma=params["gamma"])
    tail_q = as_float("tail_quantile", params["tail_quantile"], minimum=0.0, maximum=1.0)
    choice("dtype", params["dtype"], discrete.DTYPES)
    sizes = proc.sizes()
    if proc.workflow != "replace" and params["dtype"] == "float32":
        require(int(np.sum(sizes)) < 2**31, "the accumulated pool exceeds 2^31 - 1 samples; use dtype = 'float64'")
    return SimpleNamespace(p0=p0, process=proc, tail=p0 <= np.quantile(p0, tail_q), sizes=sizes,
                           group=("discrete", states, proc.workflow, params["dtype"]))


def _resolve_gaussian(params: Mapping[str, Any], cfg: Mapping[str, Any]):
    from . import gaussian

    d = as_int("dim", params["dim"], minimum=1)
    var = as_float("variance", params["variance"])
    require(var > 0, f"variance must be > 0, got {var}")
    choice("estimator", params["estimator"], gaussian.ESTIMATORS)
    choice("sampler", params["sampler"], gaussian.SAMPLERS)
    choice("dtype", params["dtype"], gaussian.DTYPES)
    as_int("spectral_every", params["spectral_every"], minimum=0)
    orig = gaussian.make_original(params["original"], np.zeros(d), var * np.eye(d))
    proc = Process.resolve(samples=params["samples"], generations=cfg["generations"], schedule=params["schedule"],
                           workflow=params["workflow"], alpha=params["alpha"], gamma=params["gamma"])
    gaussian._check_sizes(proc.sizes(), d, params["estimator"], proc.workflow)
    shared = tuple((k, json.dumps(params[k], default=str)) for k in sorted(params)
                   if k not in ("samples", "schedule", "estimator"))
    vectorised = proc.workflow != "accumulate-subsample"  # its explicit pool is per point
    return SimpleNamespace(original=orig, process=proc, sizes=proc.sizes(), estimator=params["estimator"],
                           group=("gaussian", shared) if vectorised else ("gaussian-point", id(params)))


_RESOLVE = {"discrete": _resolve_discrete, "gaussian": _resolve_gaussian}


# ---------------------------------------------------------------------------------------------
# The plan: groups of points sharing a kernel, cut into chunks of lanes


def plan_chunks(cfg: Mapping[str, Any], points: Sequence[Point]) -> list[dict[str, Any]]:
    """Chunks in run order: ``{"id", "group", "pieces": [[point, first_chain, chains], ...]}``.

    Depends on the config alone (not on the device count), so a resumed sweep finds the same plan.
    """
    chains, budget = cfg["chains"], cfg["chunk_lanes"]
    groups: dict[Any, list[int]] = {}
    for p in points:
        key = p.resolved.group
        if key[0] == "gaussian-point":
            key = ("gaussian-point", p.index)
        groups.setdefault(key, []).append(p.index)
    chunks: list[dict[str, Any]] = []
    for gi, (key, members) in enumerate(groups.items()):
        if key[0] == "gaussian-point" or chains >= budget:
            width = chains if key[0] == "gaussian-point" else budget
            for idx in members:
                for first in range(0, chains, width):
                    chunks.append({"group": gi, "pieces": [[idx, first, min(width, chains - first)]]})
        else:
            per = max(1, budget // chains)
            for s in range(0, len(members), per):
                chunks.append({"group": gi, "pieces": [[idx, 0, chains] for idx in members[s:s + per]]})
    width: dict[int, int] = {}
    for c in chunks:
        width[c["group"]] = max(width.get(c["group"], 0), sum(n for _, _, n in c["pieces"]))
    kinds = list(groups)
    for i, c in enumerate(chunks):
        c["id"] = i
        c["kind"] = kinds[c["group"]][0]
        c["width"] = width[c["group"]]  # every chunk of a group runs padded to this: one compile per group
    return chunks


# ---------------------------------------------------------------------------------------------
# Recorded generations


def recorded_generations(generations: int, every: int) -> np.ndarray:
    """0, k, 2k, ... and the last generation."""
    g = np.arange(0, generations + 1, every)
    return g if g[-1] == generations else np.append(g, generations)


# ---------------------------------------------------------------------------------------------
# The discrete kernel over lanes (grid point × chain)

_DISCRETE_BLOCKS: dict[Any, Any] = {}


def _discrete_block(workflow: str, metric_names: tuple[str, ...]):
    """Jitted ``block(carry, keys_L, xs) -> (carry, metrics)``: scans segments of generations, each
    ending with one recorded row of metrics. Compiled once per (workflow, metrics, shapes)."""
    cache_key = (workflow, metric_names)
    if cache_key in _DISCRETE_BLOCKS:
        return _DISCRETE_BLOCKS[cache_key]
    import jax
    import jax.numpy as jnp

    from . import discrete

    from .core import engine

    def block(carry, keys_L, xs):
        def generation(carry, y):
            state, lanes = carry
            mix = SimpleNamespace(alpha=lanes["alpha"][:, None], beta=lanes["beta"][:, None],
                                  gamma=lanes["gamma"][:, None])
            step = discrete.make_step(SimpleNamespace(mixing=mix, workflow=workflow), lanes["p0"], lanes["tail"])
            x = {"t": y["t"], "m": y["m"][lanes["sched"]], "pool": y["pool"][lanes["sched"]]}
            new, _ = step(engine.generation_keys(keys_L, y["t"]), state, x)
            new = jax.tree.map(lambda a, b: jnp.where(y["valid"], a, b), new, state)
            return (new, lanes), None

        def segment(carry, ys):
            carry, _ = jax.lax.scan(generation, carry, ys)
            state, lanes = carry
            m = discrete.metrics_of(state.model, lanes["p0"], lanes["tail"])
            return carry, {k: m[k] for k in metric_names}

        return jax.lax.scan(segment, carry, xs)

    fn = jax.jit(block, donate_argnums=(0,))
    _DISCRETE_BLOCKS[cache_key] = fn
    return fn


_KEYS_FN: list = []


def _lane_keys(rng_seeds: np.ndarray, chain_index: np.ndarray):
    """Key of each lane: ``fold_in(key(rng_seed), chain)``, as :func:`engine.chain_keys` makes them."""
    import jax
    import jax.numpy as jnp

    if not _KEYS_FN:
        _KEYS_FN.append(jax.jit(jax.vmap(lambda s, c: jax.random.fold_in(jax.random.key(s), c))))
    return _KEYS_FN[0](jnp.asarray(rng_seeds, jnp.uint32), jnp.asarray(chain_index, jnp.uint32))


def _padded_lanes(n: int) -> int:
    import jax

    ndev = len(jax.local_devices())
    return -(-n // ndev) * ndev


def _run_discrete_chunk(cfg, points: Sequence[Point], chunk, bar) -> dict[str, np.ndarray]:
    import contextlib

    import jax
    import jax.numpy as jnp

    from . import discrete

    from .core import engine

    lane_point, lane_chain, n_lanes, L = _lane_layout(chunk)
    lane_point_p, lane_chain_p = _pad(lane_point, L), _pad(lane_chain, L)
    members = sorted(set(lane_point.tolist()))
    first = points[members[0]].resolved
    _, K, workflow, dtype = first.group
    G, every = cfg["generations"], cfg["record_every"]
    sched_keys: dict[bytes, int] = {}
    tables = []
    for idx in members:
        sizes = points[idx].resolved.sizes
        if sizes.tobytes() not in sched_keys:
            sched_keys[sizes.tobytes()] = len(tables)
            tables.append(sizes)
    point_sched = {idx: sched_keys[points[idx].resolved.sizes.tobytes()] for idx in members}
    ctx = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with ctx:
        fdt = jnp.float64 if dtype == "float64" else jnp.float32
        idt = np.int64 if dtype == "float64" else np.int32
        per = {idx: points[idx].resolved for idx in members}
        p0 = np.stack([per[i].p0 for i in lane_point_p])
        lanes = {
            "p0": jnp.asarray(p0, fdt),
            "tail": jnp.asarray(np.stack([per[i].tail for i in lane_point_p])),
            "alpha": jnp.asarray([per[i].process.mixing.alpha for i in lane_point_p], fdt),
            "beta": jnp.asarray([per[i].process.mixing.beta for i in lane_point_p], fdt),
            "gamma": jnp.asarray([per[i].process.mixing.gamma for i in lane_point_p], fdt),
            "sched": jnp.asarray([point_sched[i] for i in lane_point_p], jnp.int32),
        }
        state = discrete.State(jnp.array(lanes["p0"], copy=True), jnp.array(lanes["p0"], copy=True), jnp.zeros((L, K), idt),
                               jnp.full(L, -1, jnp.int32), jnp.full(L, -1, jnp.int32))
        keys = _lane_keys(np.array([points[i].rng_seed for i in lane_point_p]), lane_chain_p)
        sharding = engine.chain_sharding(L)
        row0 = discrete.metrics_of(lanes["p0"], lanes["p0"], lanes["tail"])
        carry = (state, lanes)
        if sharding is not None:
            carry = jax.tree.map(lambda a: jax.device_put(a, sharding), carry)
            keys = jax.device_put(keys, sharding)
        # Segments of `every` generations; padded generations (t >= G) leave the state unchanged.
        R = -(-G // every)
        max_rows = max(1, (1 << 24) // max(L * every, 1))
        n_blocks = -(-R // max_rows)
        B = -(-R // n_blocks)
        total = n_blocks * B * every
        t = np.arange(total, dtype=np.int32)
        tc = np.minimum(t, G - 1)
        m_tab = np.stack(tables, axis=1)[tc].astype(idt)  # (T, S)
        pool_tab = np.cumsum(np.stack(tables, axis=1), axis=0)[tc].astype(idt)
        xs_all = {"t": t, "m": m_tab, "pool": pool_tab, "valid": t < G}
        names = tuple(cfg["metrics"])
        block = _discrete_block(workflow, names)
        out: dict[str, list[np.ndarray]] = {k: [np.asarray(row0[k])[None]] for k in names}
        for b in range(n_blocks):
            lo, hi = b * B * every, (b + 1) * B * every
            xs = {k: jnp.asarray(v[lo:hi].reshape(B, every, *v.shape[1:])) for k, v in xs_all.items()}
            carry, metrics = block(carry, keys, xs)
            for k in names:
                out[k].append(np.asarray(metrics[k]))
            done_gens = min(hi, G) - min(lo, G)
            bar.update(done_gens * n_lanes)
        state = carry[0]
        result = {k: np.concatenate(v, axis=0)[: R + 1, :n_lanes].astype(np.float32) for k, v in out.items()}
        result["absorbed_at"] = np.asarray(state.absorbed_at)[:n_lanes]
        result["first_extinction"] = np.asarray(state.first_extinction)[:n_lanes]
    result["point"] = lane_point
    result["chain"] = lane_chain
    return result


def _run_gaussian_chunk(cfg, points: Sequence[Point], chunk, bar) -> dict[str, np.ndarray]:
    from . import gaussian

    (idx, first, n), = chunk["pieces"]
    pt = points[idx]
    p = pt.params
    d = int(p["dim"])
    rows = recorded_generations(cfg["generations"], cfg["record_every"])
    res = gaussian.simulate(np.zeros(d), float(p["variance"]) * np.eye(d), samples=p["samples"],
                            generations=cfg["generations"], chains=n, seed=pt.rng_seed, estimator=p["estimator"],
                            sampler=p["sampler"], schedule=p["schedule"], workflow=p["workflow"], alpha=p["alpha"],
                            gamma=p["gamma"], original=p["original"], dtype=p["dtype"],
                            spectral_every=p["spectral_every"], progress=False)
    bar.update(cfg["generations"] * n)
    out: dict[str, np.ndarray] = {}
    for name in cfg["metrics"]:
        if name in res.metrics:
            out[name] = np.asarray(res.metrics[name])[rows].astype(np.float32)
            if name in res.predictions:
                out[f"prediction__{name}"] = np.asarray(res.predictions[name], np.float64)[rows]
    out["point"] = np.full(n, idx, np.int64)
    out["chain"] = np.arange(first, first + n, dtype=np.int64)
    return out


def _run_gaussian_lanes(cfg, points: Sequence[Point], chunk, bar) -> dict[str, np.ndarray]:
    """Gaussian points sharing d, D_0, workflow, mixing and sampler as lanes of one kernel: the
    sample-size schedule and the estimator enter the step as per-lane inputs."""
    import contextlib

    import jax
    import jax.numpy as jnp

    from . import gaussian

    from .core import engine

    lane_point, lane_chain, n_lanes, L = _lane_layout(chunk)
    members = sorted(set(lane_point.tolist()))
    first = points[members[0]]
    orig, proc, p = first.resolved.original, first.resolved.process, first.params
    d, G, every = orig.dim, cfg["generations"], cfg["record_every"]
    dtype = np.dtype(p["dtype"])
    names = tuple(n for n in cfg["metrics"] if n in _gaussian_metric_names(d, int(p["spectral_every"])))
    # m_max (explicit points) over the whole group, so every chunk of the group reuses one kernel
    sizes_max = max(int(q.resolved.sizes.max()) for q in points if q.resolved.group == first.resolved.group)
    ctx = jax.enable_x64(True) if p["dtype"] == "float64" else contextlib.nullcontext()
    with ctx:
        run_scan, initial, row0_fn = _gaussian_kernel(first, names, sizes_max)
        tables: dict[tuple, int] = {}
        xs_list = []
        for i in members:
            r = points[i].resolved
            key = (r.sizes.tobytes(), r.estimator)
            if key not in tables:
                tables[key] = len(xs_list)
                xs_list.append(gaussian._xs(r.sizes, r.estimator, proc.workflow, dtype))
        sched = np.asarray([tables[(points[i].resolved.sizes.tobytes(), points[i].resolved.estimator)]
                            for i in _pad(lane_point, L)], np.int32)
        tab = {k: np.stack([x[k] for x in xs_list], axis=1) for k in xs_list[0] if k != "t"}  # (G, S)
        keys = _lane_keys(np.array([points[i].rng_seed for i in _pad(lane_point, L)]), _pad(lane_chain, L))
        state = initial(L)
        row0 = row0_fn(state)
        carry = (state, jnp.asarray(sched))
        sharding = engine.chain_sharding(L)
        if sharding is not None:
            carry = jax.tree.map(lambda a: jax.device_put(a, sharding), carry)
            keys = jax.device_put(keys, sharding)
        R = -(-G // every)
        t = np.arange(R * every, dtype=np.int32)
        tc = np.minimum(t, G - 1)
        xs = {k: jnp.asarray(v[tc].reshape(R, every, *v.shape[1:])) for k, v in tab.items()}
        xs["t"] = jnp.asarray(t.reshape(R, every))
        xs["valid"] = jnp.asarray((t < G).reshape(R, every))
        carry, metrics = run_scan(carry, xs, keys)
        bar.update(G * n_lanes)
        out = {k: np.concatenate([np.asarray(row0[k])[None], np.asarray(metrics[k])])[:, :n_lanes].astype(np.float32)
               for k in names}
    out["point"] = lane_point
    out["chain"] = lane_chain
    return out


_GAUSSIAN_KERNELS: dict[Any, Any] = {}


def _gaussian_kernel(first: Point, names: tuple[str, ...], sizes_max: int):
    """(jitted ``run(carry, xs, keys) -> (carry, metrics)``, ``initial(L)``, ``row0(state)``) for a
    Gaussian group, built once per group (its points share every closed-over constant)."""
    import math as _math

    import jax
    import jax.numpy as jnp

    from . import gaussian

    from .core import engine

    cache_key = (first.resolved.group, names, sizes_max, jax.config.jax_enable_x64)
    if cache_key in _GAUSSIAN_KERNELS:
        return _GAUSSIAN_KERNELS[cache_key]
    orig, proc, p = first.resolved.original, first.resolved.process, first.params
    d, dtype = orig.dim, np.dtype(p["dtype"])
    U0, ell0 = gaussian._ldl_of(orig.cov)
    ref = {"mean": jnp.asarray(orig.mean, dtype), "cov": jnp.asarray(orig.cov, dtype),
           "trace": jnp.asarray(np.trace(orig.cov), dtype), "sigma": jnp.asarray(_math.sqrt(orig.cov[0, 0]), dtype),
           "U": jnp.asarray(U0, dtype), "ell": jnp.asarray(ell0, dtype), "ell_max": jnp.asarray(ell0.max(), dtype)}
    metrics_fn = gaussian._make_metrics(ref, d, int(p["spectral_every"]), 0)  # row 0: spectral always on
    if p["sampler"] == "stats":
        step = gaussian._make_step_stats(d, dtype, proc, ref, metrics_fn, 0)
    else:
        step = gaussian._make_step_points(d, dtype, proc, ref, metrics_fn, 0, orig, sizes_max, 0)
    all_metrics = jax.vmap(metrics_fn, in_axes=(0, 0, 0, None))

    def run_scan(carry, xs, keys):
        def generation(carry, y):
            state, lanes = carry
            x = {k: y[k][lanes] for k in y if k not in ("t", "valid")}
            x["t"] = y["t"]
            new, _ = step(engine.generation_keys(keys, y["t"]), state, x)
            new = jax.tree.map(lambda a, b: jnp.where(y["valid"], a, b), new, state)
            return (new, lanes), None

        def segment(carry, ys):
            carry, _ = jax.lax.scan(generation, carry, ys)
            (mu, U, ell), _ = carry
            m = all_metrics(mu, U, ell, 0)
            return carry, {k: m[k] for k in names}

        return jax.lax.scan(segment, carry, xs)

    def initial(L):
        return (jnp.broadcast_to(ref["mean"], (L, d)) + 0, jnp.broadcast_to(ref["U"], (L, d, d)) + 0,
                jnp.broadcast_to(ref["ell"], (L, d)) + 0)

    out = (jax.jit(run_scan, donate_argnums=(0,)), initial, lambda state: all_metrics(*state, 0))
    _GAUSSIAN_KERNELS[cache_key] = out
    return out


def _gaussian_metric_names(d: int, spectral_every: int) -> tuple[str, ...]:
    names = ["mean_sq", "logdet", "trace", "log_trace"]
    if d == 1:
        names += ["sigma", "w2"]
    elif spectral_every > 0:
        names += ["w2", "log_eig_max", "log_eig_min"]
    return tuple(names)


def _pad(a: np.ndarray, L: int) -> np.ndarray:
    return np.concatenate([a, np.full(L - a.size, a[-1])])


def _lane_layout(chunk):
    lane_point = np.concatenate([np.full(n, p, np.int64) for p, _, n in chunk["pieces"]])
    lane_chain = np.concatenate([np.arange(f, f + n, dtype=np.int64) for _, f, n in chunk["pieces"]])
    n_lanes = lane_point.size
    return lane_point, lane_chain, n_lanes, _padded_lanes(max(n_lanes, chunk.get("width", n_lanes)))


def _run_chunk(cfg, points, chunk, bar):
    if cfg["family"] == "discrete":
        return _run_discrete_chunk(cfg, points, chunk, bar)
    if chunk.get("kind") == "gaussian-point":
        return _run_gaussian_chunk(cfg, points, chunk, bar)
    return _run_gaussian_lanes(cfg, points, chunk, bar)


# ---------------------------------------------------------------------------------------------
# The sweep directory


def _chunk_path(out: Path, cid: int) -> Path:
    return out / "chunks" / f"chunk-{cid:06d}.npz"


def _fingerprint(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(rundir.to_json(cfg).encode()).hexdigest()[:16]


def _read_chunk(path: Path, chunk: Mapping[str, Any], fingerprint: str) -> dict[str, np.ndarray]:
    """Load a finished chunk and check it is the chunk the plan expects (never rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"sweep chunk {path} is unreadable ({err}); it is kept as it is: move it away to "
                         "recompute it") from None
    want_points = np.concatenate([np.full(n, p) for p, _, n in chunk["pieces"]])
    ok = (str(data.get("fingerprint", "")) == fingerprint and int(data.get("chunk_id", -1)) == chunk["id"]
          and np.array_equal(data.get("point"), want_points))
    if not ok:
        raise InputError(f"sweep chunk {path} does not belong to this sweep's plan (fingerprint or lanes "
                         "differ); refusing to use or overwrite it")
    return data


def _open_sweep_dir(out: "str | os.PathLike", cfg: Mapping[str, Any], n_chunks: int) -> rundir.RunDir:
    run = rundir.claim(out, "sweep", resume=True, flag="sweep directory", legacy="sweep.json")
    manifest = run.path / "sweep.json"
    if run.resumed and manifest.exists():
        try:
            old = rundir.read_json(manifest)
        except (OSError, ValueError) as err:
            raise InputError(f"sweep directory {out}: sweep.json is unreadable ({err}); refusing to resume") from None
        if not isinstance(old, dict) or "config" not in old:
            raise InputError(f"sweep directory {out}: sweep.json has no 'config'; not a sweep directory")
        diffs = rundir.config_diff(old["config"], cfg)
        if diffs:
            raise InputError(f"sweep directory {out} holds a different sweep; refusing to resume. Differing keys: "
                             + "; ".join(diffs) + ". Use another --out, or restore the config.")
        return run
    rundir.atomic_write_json(run / "sweep.json", {"config": cfg, "fingerprint": _fingerprint(cfg),
                                                  "chunks": n_chunks, "versions": rundir.versions(),
                                                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return run


@dataclass
class SweepResult:
    """A finished sweep: its directory, config, points and the long summary table (list of dicts)."""

    out: Path
    config: dict[str, Any]
    points: list[Point]
    rows: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        return np.asarray([r[name] for r in self.rows])

    def select(self, metric: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of one metric whose point parameters match ``params``."""
        return [r for r in self.rows if r["metric"] == metric and all(r.get(k) == v for k, v in params.items())]

    def curve(self, metric: str, point: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        rows = [r for r in self.rows if r["metric"] == metric and r["point"] == point and r["generation"] != ""]
        g = np.asarray([r["generation"] for r in rows], np.float64)
        cols = {c: np.asarray([np.nan if r[c] in ("", None) else r[c] for r in rows], np.float64)
                for c in ("mean", "se", "q05", "q50", "q95", "prediction")}
        return g, cols


def run(config: "str | os.PathLike | Mapping[str, Any]", out: "str | os.PathLike | None" = None, *,
        scale: str | None = None, progress: bool = True, max_chunks: int | None = None,
        distributed: bool = False) -> SweepResult | None:
    """Run (or resume) a sweep into ``out``; returns the summary once every chunk is done.

    ``max_chunks`` stops after that many new chunks (returns None when work remains): a way to
    split a sweep across sessions, and what the resume tests use in place of a kill.
    ``distributed=True`` calls ``jax.distributed.initialize()`` and has process i run chunks
    i, i + n, ... (a shared file system is assumed); process 0 writes the table.
    """
    import jax

    cfg = load_config(config, scale)
    points = points_of(cfg)
    chunks = plan_chunks(cfg, points)
    out = _open_sweep_dir(out if out is not None else f"runs/sweep-{cfg['name'] or _fingerprint(cfg)}", cfg,
                          len(chunks))
    fp = _fingerprint(cfg)
    proc_index, proc_count = 0, 1
    if distributed:
        jax.distributed.initialize()
        proc_index, proc_count = jax.process_index(), jax.process_count()
    mine = [c for c in chunks if c["id"] % proc_count == proc_index]
    lanes_of = {c["id"]: sum(n for _, _, n in c["pieces"]) for c in chunks}
    todo, done_work = [], 0
    for c in mine:
        path = _chunk_path(out, c["id"])
        if path.exists():
            _read_chunk(path, c, fp)
            done_work += lanes_of[c["id"]] * cfg["generations"]
        else:
            todo.append(c)
    total_work = sum(lanes_of[c["id"]] for c in mine) * cfg["generations"]
    bar = _bar(total_work, done_work, progress)
    started = time.perf_counter()
    write_s, new = 0.0, 0
    try:
        for c in todo:
            if max_chunks is not None and new >= max_chunks:
                break
            data = _run_chunk(cfg, points, c, bar)
            data.update(fingerprint=np.asarray(fp), chunk_id=np.asarray(c["id"]),
                        generation=recorded_generations(cfg["generations"], cfg["record_every"]))
            t0 = time.perf_counter()
            rundir.atomic_write_npz(_chunk_path(out, c["id"]), data)
            write_s += time.perf_counter() - t0
            new += 1
    finally:
        bar.close()
    stats = {"chunks": len(chunks), "new_chunks": new, "resumed_chunks": len(mine) - len(todo),
             "run_s": time.perf_counter() - started, "write_s": write_s}
    if any(not _chunk_path(out, c["id"]).exists() for c in chunks) or proc_index != 0:
        return None
    return finalize(out, cfg, points, chunks, stats)


def _bar(total: int, initial: int, enabled: bool):
    from .core.engine import _progress_bar

    if not enabled or total == 0:
        return _progress_bar(0, "", False)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="sweep", unit=" chain-gen", unit_scale=True, mininterval=0.5)


# ---------------------------------------------------------------------------------------------
# The tidy table


def _discrete_predictions(pt: Point, rows: np.ndarray, cache: dict) -> dict[str, tuple[np.ndarray, str]]:
    from . import discrete

    r = pt.resolved
    key = (r.p0.tobytes(), r.sizes.tobytes(), r.tail.tobytes(), r.process.workflow, r.process.mixing)
    if key not in cache:
        pred = discrete.predictions(r.p0, r.process, r.tail)
        out = {k: (np.asarray(v)[rows], "exact") for k, v in pred.items()}
        out["absorbed"] = None
        proc = r.process
        if (proc.workflow == "replace" and proc.mixing.beta == 0 and proc.mixing.gamma == 0
                and proc.schedule.kind == "constant"):
            out["absorption_time"] = (np.asarray([discrete.absorption_time_diffusion(r.p0, proc.schedule.samples)]),
                                      "diffusion")
        out.pop("absorbed")
        cache[key] = out
    return cache[key]


def _summary_rows(cfg, pt: Point, data: Mapping[str, np.ndarray], rows: np.ndarray,
                  cache: dict) -> list[dict[str, Any]]:
    base = {"point": pt.index, "seed": pt.seed, "rng_seed": pt.rng_seed, **_flat_params(pt.params)}
    if cfg["family"] == "discrete":
        preds = _discrete_predictions(pt, rows, cache)
    elif any(k.startswith("prediction__") for k in data):
        preds = {k[len("prediction__"):]: (v, "exact") for k, v in data.items() if k.startswith("prediction__")}
    else:
        from . import gaussian

        r = pt.resolved
        preds = {k: (np.asarray(v)[rows], "exact") for k, v in gaussian.predictions(r.original, r.process,
                                                                                    r.estimator).items()}
    out = []
    for name in cfg["metrics"]:
        if name not in data:
            continue
        values = np.asarray(data[name], np.float64)
        chains = values.shape[1]
        mean, se = mean_and_se(values)
        with np.errstate(invalid="ignore"):
            qs = np.quantile(values, QUANTILES, axis=-1)
        pred, kind = preds.get(name, (None, ""))
        for i, g in enumerate(rows):
            p = None if pred is None else float(pred[i])
            out.append({**base, "generation": int(g), "metric": name, "chains": chains, "mean": float(mean[i]),
                        "se": float(se[i]), "q05": float(qs[0, i]), "q50": float(qs[1, i]), "q95": float(qs[2, i]),
                        "prediction": p, "prediction_kind": kind if p is not None else "", "z": _z(mean[i], se[i], p)})
    if cfg["family"] == "discrete":
        G = cfg["generations"]
        for event, label in (("absorbed_at", "absorption_time"), ("first_extinction", "first_extinction_time")):
            at = np.asarray(data[event])
            hit = at[at >= 0].astype(np.float64)
            frac = hit.size / at.size
            out.append({**base, "generation": G, "metric": f"{label}_fraction", "chains": at.size, "mean": frac,
                        "se": math.sqrt(frac * (1 - frac) / max(at.size - 1, 1)), "q05": None, "q50": None,
                        "q95": None, "prediction": None, "prediction_kind": "", "z": None})
            if hit.size:
                m, s = mean_and_se(hit[None])
                q = np.quantile(hit, QUANTILES)
                pred, kind = preds.get(label, (None, "")) if hit.size == at.size else (None, "")
                p = None if pred is None else float(pred[0])
                out.append({**base, "generation": G, "metric": label, "chains": hit.size, "mean": float(m[0]),
                            "se": float(s[0]), "q05": float(q[0]), "q50": float(q[1]), "q95": float(q[2]),
                            "prediction": p, "prediction_kind": kind if p is not None else "",
                            "z": _z(m[0], s[0], p)})
    return out


def _z(mean, se, pred):
    if pred is None or not (np.isfinite(se) and se > 0) or not np.isfinite(mean):
        return None
    return float((mean - pred) / se)


def _flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in params.items()}


def finalize(out: Path, cfg, points: Sequence[Point], chunks: Sequence[Mapping[str, Any]],
             stats: dict[str, Any] | None = None) -> SweepResult:
    """Read every chunk, summarise each point (chains merged across chunks), write the tables."""
    fp = _fingerprint(cfg)
    rows_g = recorded_generations(cfg["generations"], cfg["record_every"])
    pending: dict[int, list[dict[str, np.ndarray]]] = {}
    remaining = {p.index: cfg["chains"] for p in points}
    table: list[dict[str, Any]] = []
    cache: dict = {}
    t0 = time.perf_counter()
    for c in chunks:
        data = _read_chunk(_chunk_path(out, c["id"]), c, fp)
        for idx, first, n in c["pieces"]:
            sel = np.flatnonzero((data["point"] == idx) & (data["chain"] >= first) & (data["chain"] < first + n))
            part = {k: (v[..., sel] if k in cfg["metrics"] or k in ("absorbed_at", "first_extinction") else v)
                    for k, v in data.items() if k not in ("point", "chain", "fingerprint", "chunk_id", "generation")}
            pending.setdefault(idx, []).append(part)
            remaining[idx] -= n
            if remaining[idx] == 0:
                parts = pending.pop(idx)
                merged = {k: (np.concatenate([p[k] for p in parts], axis=-1)
                              if k in cfg["metrics"] or k in ("absorbed_at", "first_extinction") else parts[0][k])
                          for k in parts[0]}
                table.extend(_summary_rows(cfg, points[idx], merged, rows_g, cache))
    param_cols = list(PARAMS[cfg["family"]])
    header = ["point", "seed", "rng_seed", *param_cols, *TABLE_COLUMNS]
    rundir.atomic_write_csv(out / "summary.csv", header, ([r.get(h) for h in header] for r in table))
    rundir.atomic_write_csv(out / "points.csv", ["point", "seed", "rng_seed", *param_cols],
                            ([p.index, p.seed, p.rng_seed, *_flat_params(p.params).values()] for p in points))
    wrote = ["summary.csv", "points.csv"]
    if _write_parquet(out / "summary.parquet", header, table):
        wrote.append("summary.parquet")
    stats = dict(stats or {})
    stats["finalize_s"] = time.perf_counter() - t0
    return SweepResult(Path(out), dict(cfg), list(points), table, {**stats, "wrote": wrote})


def _write_parquet(path: Path, header: Sequence[str], table: Sequence[Mapping[str, Any]]) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    import io

    cols = {h: [r.get(h) for r in table] for h in header}
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    rundir.atomic_write_bytes(path, buf.getvalue())
    return True


def load(out: "str | os.PathLike") -> SweepResult:
    """Reopen a finished sweep directory (re-reads the chunks and rebuilds the table)."""
    out = Path(out)
    manifest = out / "sweep.json"
    if not manifest.exists():
        raise InputError(f"{out} is not a sweep directory (no sweep.json)")
    try:
        cfg = rundir.read_json(manifest)["config"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"sweep directory {out}: sweep.json is unreadable ({err})") from None
    points = points_of(cfg)
    chunks = plan_chunks(cfg, points)
    missing = [c["id"] for c in chunks if not _chunk_path(out, c["id"]).exists()]
    require(not missing, f"sweep {out} is unfinished: {len(missing)} of {len(chunks)} chunks missing; run it again")
    return finalize(out, cfg, points, chunks)


def load_chains(out: "str | os.PathLike", point: int) -> dict[str, np.ndarray]:
    """The raw per-chain arrays of one point: metrics (recorded generations × chains), events."""
    res_dir = Path(out)
    cfg = rundir.read_json(res_dir / "sweep.json")["config"]
    points = points_of(cfg)
    chunks = plan_chunks(cfg, points)
    fp = _fingerprint(cfg)
    parts = []
    for c in chunks:
        if any(p == point for p, _, _ in c["pieces"]):
            data = _read_chunk(_chunk_path(res_dir, c["id"]), c, fp)
            sel = np.flatnonzero(data["point"] == point)
            parts.append({k: v[..., sel] for k, v in data.items()
                          if k in cfg["metrics"] or k in ("absorbed_at", "first_extinction", "chain")})
            gen = data["generation"]
    require(bool(parts), f"no point {point} in sweep {res_dir}")
    merged = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    merged["generation"] = gen
    return merged


# ---------------------------------------------------------------------------------------------
# Plot and CLI


def plot_generic(result: SweepResult, directory: Path, metric: str | None = None, max_points: int = 12) -> Path:
    """Mean ± 2 se of one metric against generation, one line per point (the first ``max_points``)."""
    from .core import plots

    metric = metric or result.config["metrics"][0]
    fig, (ax,) = plots.figure()
    for pt in result.points[:max_points]:
        g, c = result.curve(metric, pt.index)
        varying = {k: pt.params[k] for k in (*result.config["grid"], *{k for c in result.config["cases"] for k in c})}
        label = ", ".join(f"{k}={v}" for k, v in varying.items()) or f"point {pt.index}"
        line, = ax.plot(g, c["mean"], lw=1.2, label=label)
        ax.fill_between(g, c["mean"] - 2 * c["se"], c["mean"] + 2 * c["se"], color=line.get_color(), alpha=0.2)
        if np.isfinite(c["prediction"]).any():
            ax.plot(g, c["prediction"], "k:", lw=0.8)
    ax.set(xlabel="generation", ylabel=metric, title=f"sweep {result.config['name'] or ''}: {metric}")
    ax.legend(fontsize=6)
    path = directory / f"sweep_{metric}.png"
    plots.save(fig, path)
    return path


def add_cli(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter grid as one vectorised, resumable sweep",
                       description="Run a sweep config (TOML); rerun the same command to resume.")
    p.add_argument("config", help="sweep config, TOML")
    p.add_argument("--out", default=None, help="sweep directory (default runs/sweep-<name>)")
    p.add_argument("--scale", default=None, help="apply the config's [scales.NAME] overrides")
    p.add_argument("--plot", action="store_true", help="draw the experiment's figure (or a generic one)")
    p.add_argument("--max-chunks", type=int, default=None, help="stop after this many new chunks")
    p.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize() (multi-host)")
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan, run nothing")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.scale)
    if args.dry_run:
        points = points_of(cfg)
        chunks = plan_chunks(cfg, points)
        lanes = len(points) * cfg["chains"]
        print(f"{cfg['family']} sweep: {len(points)} points x {cfg['chains']} chains = {lanes} lanes, "
              f"{cfg['generations']} generations, {len(chunks)} chunks")
        return 0
    out = args.out or f"runs/sweep-{cfg['name'] or Path(args.config).stem}"
    res = run(args.config, out, scale=args.scale, progress=not args.no_progress, max_chunks=args.max_chunks, distributed=args.distributed)
    if res is None:
        print(f"sweep {out}: work remains (or another host finalises); run the same command again to continue")
        return 0
    print(f"sweep {out}: {len(res.points)} points, {res.stats['new_chunks']} new and "
          f"{res.stats['resumed_chunks']} resumed chunks; wrote {', '.join(res.stats['wrote'])}")
    if args.plot:
        figure = _experiment_plot(res, Path(args.config)) or plot_generic(res, res.out)
        print(f"wrote {figure}")
    return 0


def _experiment_plot(res: SweepResult, config_path: Path):
    """The figure of an ``experiments/`` config (its package sits next to the config file)."""
    import importlib
    import sys

    name = res.config.get("experiment")
    package = config_path.resolve().parent
    if not name or not (package / "__init__.py").exists():
        return None
    sys.path.insert(0, str(package.parent))
    try:
        module = importlib.import_module(package.name)
    except ImportError:
        return None
    finally:
        sys.path.remove(str(package.parent))
    return module.plot(name, res) if hasattr(module, "plot") else None


__all__ = ["run", "load", "load_config", "load_chains", "points_of", "plan_chunks", "finalize", "SweepResult",
           "Point", "recorded_generations", "plot_generic"]
