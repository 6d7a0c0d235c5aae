"""Gaussian recursive fitting: chain-generations per second against numpy, side by side in one run.

    python -m benchmarks.gaussian [--quick] [--dims 2,10,50] [--samples 100,1000] [--cpu-devices auto|N]

For each d and M, interleaved (repeats of: kernel, default, numpy), medians reported:
  kernel   ``gaussian.simulate(..., spectral_every=0)``: the sufficient-statistic sampler with the
           peer's metrics (log det and ‖μ − μ₀‖²) and the other cheap ones (trace), every generation
  default  ``gaussian.simulate`` with its default metrics: the cheap ones every generation, W₂ and
           the extreme eigenvalues (exact, Jacobi SVD) at every generation up to 16, then 4
           log-spaced per doubling and at the last (``spectral_every='log'``)
  every    (d = 10, M = 100 only) the spectral metrics at every generation (``spectral_every=1``)
  numpy    numpy drawing the M points of all chains at once (batched matmul, mean, scatter,
           Cholesky, log det, ‖μ‖²), timed on a few generations and scaled
collapse-jax runs on ``--cpu-devices`` JAX CPU devices (default ``auto``: one per core, as after
``collapse_jax.use_cpu_cores()`` and in the ``collapse-jax`` command; ``1``: a plain Python session,
one device using XLA's threads). numpy runs as it does (its batched small matmuls and Cholesky
factorisations use one core). Ratios are numpy's time per chain-generation over ours. "compile" is the first call's time minus a
steady call's (tracing + XLA compilation; the compilation cache starts empty). M is a per-generation
input, not a compile-time constant, so the second M of a d reuses the first one's program: its
"compile" is about 0 (noise can make it negative). The machine may be shared: the load average is
printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

CHAINS = {2: 4096, 10: 4096, 50: 128}  # d = 50: fewer chains keep a run under a minute
GENERATIONS = 500


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _ours(d, M, chains, generations, **kw):
    from collapse_jax import gaussian

    mean0, cov0 = np.zeros(d), np.eye(d)
    return lambda: gaussian.simulate(mean0, cov0, samples=M, generations=generations, chains=chains,  # noqa: E731
                                     progress=False, record_every=0, **kw)


def numpy_batched(d, M, chains, generations) -> float:
    """Seconds per chain-generation of numpy doing one generation for all chains at once."""
    rng = np.random.default_rng(0)
    mu = np.zeros((chains, d))
    L = np.broadcast_to(np.eye(d), (chains, d, d)).copy()

    def run():
        nonlocal mu, L
        for _ in range(generations):
            z = rng.standard_normal((chains, M, d))
            x = mu[:, None, :] + z @ L.transpose(0, 2, 1)  # batched matmul (faster than einsum here)
            mu = x.mean(axis=1)
            xc = x - mu[:, None, :]
            cov = xc.transpose(0, 2, 1) @ xc / (M - 1)
            L = np.linalg.cholesky(cov)
            _ = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1), (mu ** 2).sum(1)  # log det, |mu - mu0|^2

    return _timed(run) / (generations * chains)


def numpy_loop(d, M, chain_generations) -> float:
    """Seconds per chain-generation of numpy one chain at a time (``multivariate_normal`` + ``cov``),
    the official notebooks' way."""
    rng = np.random.default_rng(0)
    mu, cov = np.zeros(d), np.eye(d)

    def run():
        nonlocal mu, cov
        for _ in range(chain_generations):
            x = rng.multivariate_normal(mu, cov, size=M)
            mu, cov = x.mean(axis=0), np.cov(x, rowvar=False)
            _ = np.linalg.slogdet(cov)[1], (mu ** 2).sum()

    return _timed(run) / chain_generations


def measure(d, M, repeats, generations, quick, every=False):
    chains = CHAINS.get(d, 1024)
    paths = {"kernel": _ours(d, M, chains, generations, spectral_every=0),
             "default": _ours(d, M, chains, generations)}
    if every:
        paths["every"] = _ours(d, M, chains, generations, spectral_every=1)
    first = {k: _timed(f) for k, f in paths.items()}
    times = {k: [] for k in paths}
    times["numpy"] = []
    np_gens = max(1, (1 if quick else 3) * (1 if d * M * chains > 2e7 else 4))
    for _ in range(repeats):
        for k, f in paths.items():
            times[k].append(_timed(f) / (generations * chains))
        times["numpy"].append(numpy_batched(d, M, chains, np_gens))
    med = {k: statistics.median(v) for k, v in times.items()}
    compile_s = {k: first[k] - med[k] * generations * chains for k in paths}
    return chains, med, compile_s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer generations and repeats (a smoke run)")
    ap.add_argument("--dims", default="2,10,50")
    ap.add_argument("--samples", default="100,1000")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--cpu-devices", default="auto", help="JAX CPU devices for collapse-jax: auto (one per core) or N")
    args = ap.parse_args(argv)
    import collapse_jax

    devices = collapse_jax.use_cpu_cores(args.cpu_devices)
    # an empty compilation cache, so the first call's time includes compilation
    os.environ["COLLAPSE_JAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="collapse-jax-bench-")
    generations = 60 if args.quick else GENERATIONS
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"{generations} generations, medians of {repeats} interleaved repeats, collapse-jax on {devices} CPU "
          f"device(s) over {len(os.sched_getaffinity(0))} CPUs; load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'d':>3} {'M':>5} {'chains':>6}  {'numpy us':>9}  {'kernel us':>9} {'ratio':>7} {'compile s':>9}  "
          f"{'default us':>10} {'ratio':>7} {'compile s':>9}")
    for d in (int(v) for v in args.dims.split(",")):
        for M in (int(v) for v in args.samples.split(",")):
            every = d == 10 and M == 100
            chains, med, comp = measure(d, M, repeats, generations, args.quick, every=every)
            n = med["numpy"]
            print(f"{d:>3} {M:>5} {chains:>6}  {n * 1e6:9.2f}  {med['kernel'] * 1e6:9.3f} {n / med['kernel']:6.1f}x "
                  f"{comp['kernel']:9.1f}  {med['default'] * 1e6:10.3f} {n / med['default']:6.1f}x "
                  f"{comp['default']:9.1f}", flush=True)
            if every:
                print(f"{'':>17}spectral_every=1 (W2 at every generation): {med['every'] * 1e6:.3f} us, "
                      f"{n / med['every']:.1f}x, compile {comp['every']:.1f} s", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
