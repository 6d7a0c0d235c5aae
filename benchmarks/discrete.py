"""Discrete chain throughput: collapse-jax's exact [K, C] sampler against numpy, in one process.

    python -m benchmarks.discrete            # every shape (about 15-25 minutes on the 2-core dev CPU)
    python -m benchmarks.discrete --quick    # the main shape only

Every figure is a RATIO measured in one process: the contenders run interleaved (A, B, A, B, ...),
each timing is a whole run of G generations, and the table reports the median over repeats (the
machine is shared, so absolute times are noise). Each shape is measured in two processes, each
with its own numpy timings:

  [1-CPU process]  a child process confined to one CPU from its start (what a one-core machine
                   gives; XLA sizes its thread pools by the CPUs it may use):
    collapse-jax, 1 device   the engine's compiled block (core.engine._block) running the discrete
                             kernel (discrete.prepare: what discrete.simulate and the sweep run)
                             for G generations; metrics observed once, at the end
    ... no compaction        (main shape) the same with the lane compaction off
    numpy                    Generator.multinomial on all chains at once, a Python loop over
                             generations (numpy uses one core)
  [N-CPU process]  this process, on every core:
    collapse-jax, N devices  the same block with the chains split over one host device per core by
                             the engine's shard_map (what discrete.simulate does after
                             collapse_jax.use_cpu_cores(), and the collapse-jax command by default)
    ... 1 device, XLA threads  the 1-device block left to XLA's own threads on every core (what
                             discrete.simulate does in a plain Python session)
    numpy                    as above, pinned to one core
  accumulate-subsample adds conditional Generator.hypergeometric splits, vectorised over chains;
  peers at the main shape: jax.random.multinomial under vmap, jitted (a few generations), and the
  official style, one chain at a time, np.random.choice + bincount (8 chains).

Compile time is the first call's lower+compile (this process never turns the persistent cache on);
"cache start" is a fresh process that runs the main shape with collapse-jax's persistent
compilation cache (core/cache.py) pointed at an empty and then the filled directory, from
interpreter start to the first result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np


def _pin(cpus) -> None:
    """Restrict every thread of this process (XLA's pools included) to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


ALL_CPUS = frozenset(os.sched_getaffinity(0))
ONE_CPU = frozenset({min(ALL_CPUS)})


def _interleave(fns: dict[str, Callable[[], object]], reps: int, cpus: dict[str, frozenset]) -> dict[str, list[float]]:
    import jax

    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(reps):
        for name, fn in fns.items():
            _pin(cpus[name])
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    _pin(ALL_CPUS)
    return times


# ---------------------------------------------------------------------------------------------
# Contenders


def collapse_program(K: int, M: int, C: int, G: int, workflow: str = "replace", devices: int = 1,
                     metrics_every: int | None = None, tuning=None):
    """(jitted engine block, args) for G generations of the discrete kernel from a uniform p_0."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from collapse_jax import Process
    from collapse_jax.core import engine, streams
    from collapse_jax.core.kernel import Params
    from collapse_jax.discrete.simulate import prepare

    every = metrics_every or G
    prepared = prepare("uniform", states=K, process=Process.resolve(
        samples=M, generations=G, schedule="constant", workflow=workflow, alpha=None, beta=0.0, gamma=0.0))
    kernel = prepared.kernel if tuning is None else dataclasses.replace(prepared.kernel, tuning=tuning)
    params = Params(dict(prepared.params, column=np.int32(0)), {})
    keys = streams.chain_keys(0, C)
    layout = engine.Layout(snaps=1, rows=G // every, every=every, keep=1, devices=devices, chain_axis=kernel.chain_axis)
    table = prepared.table(0, G)
    xs = {k: jnp.asarray(np.asarray(v)[:, None]) for k, v in table.items()}
    xs["t"] = jnp.arange(G, dtype=jnp.int32)
    xs["count"] = jnp.asarray(G, jnp.int32)
    state = kernel.init(params, C)
    if devices > 1:
        mesh = Mesh(np.asarray(jax.local_devices()[:devices]), ("chains",))
        keys = jax.device_put(keys, NamedSharding(mesh, PartitionSpec("chains")))
        state = jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, engine._chain_spec(a.ndim, -1))), state)
    # the block donates its state: every timed call gets a fresh copy
    fresh = jax.jit(lambda s: jax.tree.map(lambda a: a + jnp.zeros((), a.dtype), s))

    def run(state, keys, params, xs):
        return engine._block(kernel, layout, state, keys, params, xs)

    return run, (state, keys, params, xs), fresh


def compiled(program):
    """(a call running the whole program once, the seconds of its first call: trace + compile +
    one run; :func:`measure` subtracts the median run)."""
    fn, (state, keys, params, xs), fresh = program
    start = time.perf_counter()
    fn(fresh(state), keys, params, xs)[0].model.block_until_ready()
    return (lambda: fn(fresh(state), keys, params, xs)[1]), time.perf_counter() - start


def numpy_multinomial(K: int, M: int, C: int, G: int, workflow: str = "replace"):
    rng = np.random.default_rng(0)

    def run():
        p = np.full((C, K), 1.0 / K)
        pool = np.zeros((C, K), np.int64)
        for t in range(G):
            counts = rng.multinomial(M, p)
            if workflow == "replace":
                p = counts / M
                continue
            pool += counts
            # M of the pooled points without replacement: conditional hypergeometric splits
            left = np.full(C, M, np.int64)
            rest = pool.sum(1)
            sub = np.zeros_like(pool)
            for k in range(K - 1):
                good = pool[:, k]
                rest = rest - good
                ok = left > 0
                x = np.zeros(C, np.int64)
                x[ok] = rng.hypergeometric(good[ok], rest[ok], left[ok])
                sub[:, k] = x
                left -= x
            sub[:, K - 1] = left
            p = sub / M
        return p

    return run


def jax_multinomial_rate(C: int, K: int, M: int, generations: int = 3) -> float:
    import jax
    import jax.numpy as jnp

    @jax.jit
    def step(keys, p):
        return jax.vmap(lambda k, q: jax.random.multinomial(k, M, q))(keys, p) / M

    keys = jax.random.split(jax.random.key(0), C)
    p = jnp.full((C, K), 1 / K)
    step(keys, p).block_until_ready()
    start = time.perf_counter()
    for t in range(generations):
        p = step(jax.vmap(lambda k: jax.random.fold_in(k, t))(keys), p)
    p.block_until_ready()
    return C * generations / (time.perf_counter() - start)


def official_style_rate(K: int, M: int, G: int, chains: int = 8) -> float:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(chains):
        p = np.full(K, 1 / K)
        for _ in range(G):
            p = np.bincount(rng.choice(K, size=M, p=p), minlength=K) / M
    return chains * G / (time.perf_counter() - start)


CACHE_START = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from collapse_jax import discrete
t1 = time.perf_counter()
discrete.simulate("uniform", states=100, samples=1000, chains=4096, generations=200, seed=0, progress=False)
t2 = time.perf_counter()
print(t2 - t0, t1 - t0, t2 - t1)
"""


def cache_start_times() -> list[list[float]]:
    """[cold, warm] x (total, import, discrete.simulate) seconds of a fresh process running the main
    shape (200 generations, metrics every generation) with collapse-jax's persistent compilation
    cache (core/cache.py, on by default) pointed at an empty and then the filled directory."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        out = []
        for _ in range(2):
            env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLLAPSE_JAX_CACHE_DIR": cache}
            env.pop("COLLAPSE_JAX_CACHE", None)
            proc = subprocess.run([sys.executable, "-c", CACHE_START, root], capture_output=True, text=True,
                                  env=env, timeout=1800)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-2000:])
            out.append([float(v) for v in proc.stdout.split()[-3:]])
    return out


# ---------------------------------------------------------------------------------------------


def _contenders(K, M, C, G, workflow, variants: bool):
    """The one-device contenders (compiled) and their compile seconds."""
    fns, compile_s = {}, {}
    fns["collapse-jax, 1 device"], compile_s["1 device"] = compiled(collapse_program(K, M, C, G, workflow))
    if variants:
        from collapse_jax import samplers

        fns["collapse-jax, 1 device, no compaction"], compile_s["no compaction"] = compiled(
            collapse_program(K, M, C, G, workflow, tuning=samplers.Tuning(compaction=1)))
    return fns, compile_s


def _one_core_child(spec: str) -> None:
    """In a process confined to one CPU: the one-device contenders and numpy, interleaved; prints
    their times and compile seconds as JSON."""
    K, M, C, G, workflow, reps, variants = json.loads(spec)
    fns, compile_s = _contenders(K, M, C, G, workflow, variants)
    fns["numpy"] = numpy_multinomial(K, M, C, G, workflow)
    times = _interleave(fns, reps, {k: ALL_CPUS for k in fns})
    print(json.dumps({"times": times, "compile": compile_s}))


def one_core_times(K, M, C, G, workflow, reps, variants):
    """(times, compile seconds) of the one-device contenders and numpy in a child process confined
    to one CPU *from its start*. XLA sizes its thread pools by the CPUs a process may use: a
    process started on every core and then confined to one keeps a pool of threads that share the
    core, which cost collapse-jax 1.3-1.5x at the main shape (1.06x numpy, against 1.4-1.6x in a
    process started on one core). A one-core machine is the second case."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.discrete", "--one-core-child",
                           json.dumps([K, M, C, G, workflow, reps, variants])], cwd=root, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["times"], out["compile"]


def _report(label, C, G, times, compile_s, rows, suffix=""):
    numpy_t = float(np.median(times["numpy"]))
    for name, ts in times.items():
        med = float(np.median(ts))
        first = next((v for k, v in compile_s.items() if name.endswith(k)), None)
        comp = None if first is None else max(first - med, 0.0)  # the first call less one run
        shown = name + suffix
        rows.append((label, shown, C * G / med, numpy_t / med, comp))
        print(f"    {shown:46s} {C * G / med:10.3g} chain-gen/s  {numpy_t / med:5.2f}x numpy"
              + (f"  (compile {comp:.1f} s)" if comp is not None else ""), flush=True)


def measure(label: str, K: int, M: int, C: int, G: int, workflow: str, reps: int, cores: bool, rows: list,
            variants: bool = False):
    """One shape: the one-core contenders in a one-CPU child process, then (``cores``) the
    every-core contenders here, each set against numpy on one core in its own process."""
    import jax

    print(f"- {label}: K={K}, M={M}, {C} chains, {G} generations, {workflow}", flush=True)
    times, compile_s = one_core_times(K, M, C, G, workflow, reps, variants)
    _report(label, C, G, times, compile_s, rows, suffix=" [1-CPU process]")
    if not (cores and len(ALL_CPUS) > 1):
        return
    ndev = len(jax.local_devices())
    fns, cpus, compile_s = {}, {}, {}
    if ndev > 1 and C % ndev == 0:
        fns[f"collapse-jax, {ndev} devices"], compile_s[f"{ndev} devices"] = compiled(
            collapse_program(K, M, C, G, workflow, devices=ndev))
        cpus[f"collapse-jax, {ndev} devices"] = ALL_CPUS
    one, one_compile = _contenders(K, M, C, G, workflow, False)
    fns["collapse-jax, 1 device, XLA threads"] = one["collapse-jax, 1 device"]
    compile_s["XLA threads"] = one_compile["1 device"]
    cpus["collapse-jax, 1 device, XLA threads"] = ALL_CPUS
    fns["numpy"] = numpy_multinomial(K, M, C, G, workflow)
    cpus["numpy"] = ONE_CPU
    _report(label, C, G, _interleave(fns, reps, cpus), compile_s, rows, suffix=f" [{len(ALL_CPUS)}-CPU process]")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the main shape only")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-cache", action="store_true", help="skip the persistent-cache start measurement")
    parser.add_argument("--one-core-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_core_child:
        _pin(ONE_CPU)  # before JAX starts, so XLA sizes its pools for one CPU
        return _one_core_child(args.one_core_child)
    import collapse_jax

    collapse_jax.use_cpu_cores("auto")  # one device per core (a no-op once JAX has started)
    import jax

    print(f"jax {jax.__version__} on {jax.default_backend()}, {len(jax.local_devices())} device(s), "
          f"{len(ALL_CPUS)} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows: list = []
    measure("main", 100, 1000, 4096, 200, "replace", args.reps, True, rows, variants=True)
    if not args.quick:
        measure("K=10, M=100", 10, 100, 4096, 200, "replace", args.reps, True, rows)
        measure("K=1000, M=10^4", 1000, 10**4, 1024, 100, "replace", args.reps, True, rows)
        measure("K=100, M=10^6", 100, 10**6, 4096, 100, "replace", args.reps, True, rows)
        measure("64 chains", 100, 1000, 64, 200, "replace", args.reps, True, rows)
        measure("accumulate-subsample", 100, 1000, 4096, 100, "accumulate-subsample", args.reps, True, rows)
        print("- peers at the main shape (few generations / chains, scaled)", flush=True)
        ours = next(r[2] for r in rows if r[0] == "main" and r[1].startswith("collapse-jax, 1 device [1-CPU"))
        for name, rate in (("jax.random.multinomial under vmap", jax_multinomial_rate(4096, 100, 1000)),
                           ("official style (choice + bincount)", official_style_rate(100, 1000, 200))):
            rows.append(("main", name, rate, ours / rate, None))
            print(f"    {name:38s} {rate:10.3g} chain-gen/s  (collapse-jax on 1 CPU is {ours / rate:.1f}x)",
                  flush=True)
    if not args.no_cache:
        for label, (total, imp, sim) in zip(("empty", "filled"), cache_start_times()):
            print(f"- main shape, fresh process, {label} persistent cache: {total:.1f} s to the result = "
                  f"import {imp:.1f} + discrete.simulate (compile or cache load, 200 generations) {sim:.1f}",
                  flush=True)
    print("\n| shape | contender | chain-gen/s | collapse-jax / numpy | compile (s) |\n|---|---|---|---|---|")
    for label, name, rate, ratio, comp in rows:
        if name.startswith(("jax.random", "official")):
            print(f"| {label} | {name} (peer) | {rate:.3g} | collapse-jax on 1 CPU is {ratio:.1f}× this peer | |")
        elif name.startswith("numpy"):
            print(f"| {label} | {name}, 1 core | {rate:.3g} | 1 | |")
        else:
            print(f"| {label} | {name} | {rate:.3g} | **{ratio:.2f}×** | {'' if comp is None else f'{comp:.1f}'} |")


if __name__ == "__main__":
    main()
