"""Gaussian recursive fitting: chain-generations per second, measured side by side in one run.

    python -m benchmarks.gaussian [--quick]

Paths at d = 10, M = 100, 4096 chains (500 generations for this project's sampler):
  stats      this project, sufficient statistics (Bartlett), cheap metrics every generation
  stats+eig  the same with W2 and extreme eigenvalues (an eigendecomposition per chain) every generation
  points     this project's explicit-points path (M·d normals per chain and generation)
  numpy-batched   numpy drawing the M points for all chains at once (batched einsum, cov, Cholesky)
  numpy-loop      one chain at a time with multivariate_normal + np.cov (the style of existing code)
The same ratio at M = 1000, then the cost per chain-generation against M (10 … 10⁶) for both of this
project's samplers.

This project's times exclude compilation: each is the second of two identical runs with a persistent
compilation cache (tracing and cache loading are still counted). Baselines are timed on a few
generations and scaled. The machine is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from collapse_jax import gaussian


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _enable_compile_cache() -> None:
    """A persistent compilation cache, so the second identical run measures work, not compilation."""
    import tempfile

    import jax

    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="collapse-jax-bench-"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def ours(d, M, chains, generations, **kw) -> float:
    """Chain-generations per second of gaussian.simulate: the second of two identical runs (the first
    fills the compilation cache; the second still traces and loads, so this slightly under-states)."""
    mean0, cov0 = np.zeros(d), np.eye(d)
    run = lambda: gaussian.simulate(mean0, cov0, samples=M, generations=generations, chains=chains, **kw)  # noqa: E731
    run()
    return generations * chains / _timed(run)


def numpy_batched(d, M, chains, generations) -> float:
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

    return generations * chains / _timed(run)


def numpy_loop(d, M, chain_generations) -> float:
    rng = np.random.default_rng(0)
    mu, cov = np.zeros(d), np.eye(d)

    def run():
        nonlocal mu, cov
        for _ in range(chain_generations):
            x = rng.multivariate_normal(mu, cov, size=M)
            mu, cov = x.mean(axis=0), np.cov(x, rowvar=False)
            _ = np.linalg.slogdet(cov)[1], (mu ** 2).sum()

    return chain_generations / _timed(run)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer generations (a smoke run)")
    args = ap.parse_args(argv)
    _enable_compile_cache()
    d, M, C = 10, 100, 4096
    G = 60 if args.quick else 500
    rates = {}
    rates["stats"] = ours(d, M, C, G, spectral_every=0)
    rates["stats+eig"] = ours(d, M, C, 10 if args.quick else 40, spectral_every=1)
    rates["points"] = ours(d, M, C, 10 if args.quick else 40, sampler="points", spectral_every=0)
    rates["numpy-batched"] = numpy_batched(d, M, C, 3 if args.quick else 10)
    rates["numpy-loop"] = numpy_loop(d, M, 300 if args.quick else 2000)
    print(f"d = {d}, M = {M}, {C} chains (this project's paths: compile excluded)")
    print(f"{'path':>14}  {'chain-gen/s':>12}  {'us/chain-gen':>12}  {'stats is x faster':>18}")
    for name, r in rates.items():
        print(f"{name:>14}  {r:12.4g}  {1e6 / r:12.3f}  {rates['stats'] / r:18.2f}")
    print(f"ratio stats / numpy-batched = {rates['stats'] / rates['numpy-batched']:.1f}x (goal >= 50x)")
    M3 = 1000  # the sufficient-statistic cost does not grow with M; numpy's does
    s3 = ours(d, M3, C, 60 if args.quick else 200, spectral_every=0)
    b3 = numpy_batched(d, M3, C, 2 if args.quick else 4)
    print(f"at M = {M3}: stats {s3:.4g} chain-gen/s, numpy-batched {b3:.4g} chain-gen/s, ratio {s3 / b3:.1f}x")
    print()
    print("cost against M (d = 5), us per chain-generation")
    print(f"{'M':>9}  {'stats':>10}  {'points':>10}  {'points chains':>13}")
    d2 = 5
    for M2 in (10, 100, 1_000, 10_000, 100_000, 1_000_000):
        s = ours(d2, M2, 4096, 20 if args.quick else 100, spectral_every=0)
        chains = int(max(1, min(4096, (1 << 22) // (M2 * d2))))
        p = ours(d2, M2, chains, 3 if args.quick else 10, sampler="points", spectral_every=0)
        print(f"{M2:>9}  {1e6 / s:10.3f}  {1e6 / p:10.3f}  {chains:>13}", flush=True)


if __name__ == "__main__":
    main()
