"""GMM recursion: generations per second for many chains, measured side by side in one run.

    python -m benchmarks.gmm [--chains 256] [--generations 30] [--quick]

The notebook's setting (docs/THEORY.md §4.1): 2 full-covariance components, N = 1000 points of one 2-D
N(0, I) blob, tol 1e-5, max_iter 2000, a fresh k-means++ initialisation every generation.

  jax       this project: ``gmm.simulate`` for all chains at once, with the asynchronous driver
            (every chain at its own pace; the default) and with the synchronous one (every
            generation waits for its slowest fit). Each timed as the second of two identical runs
            with a persistent compilation cache; both give the same numbers.
  sklearn   the official notebook's approach: per chain and generation, ``GaussianMixture(...).fit``
            then ``.sample(N)``. Timed on a few generations of a few chains and scaled to the same
            number of chains (the loop is sequential, so its cost is linear in chains); once with
            scikit-learn's default threading and once limited to one thread (often faster on a
            busy machine, as each fit is tiny).

The machine is shared: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.gaussian import _timed
from collapse_jax import gmm
from collapse_jax.core.cache import enable_compilation_cache


def ours(chains: int, generations: int, scheduler: str = "async") -> float:
    """Generations per second for ``chains`` chains (generation 0, the fit to real data, counts)."""
    run = lambda: gmm.simulate("blob", components=2, samples=1000, generations=generations, chains=chains,  # noqa: E731
                               tol=1e-5, max_iter=2000, reg_covar=1e-6, scheduler=scheduler, progress=False)
    run()
    return (generations + 1) / _timed(run)


def sklearn_loop(chains: int, generations: int, measured_chains: int, threads: int | None) -> float:
    """Generations per second for ``chains`` chains, extrapolated from ``measured_chains``."""
    from sklearn.datasets import make_blobs
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    def run():
        for c in range(measured_chains):
            X, _ = make_blobs(n_samples=1000, n_features=1, centers=[[0, 0]], cluster_std=1, random_state=c)
            for _ in range(generations + 1):
                fit = GaussianMixture(n_components=2, covariance_type="full", tol=1e-5, max_iter=2000).fit(X)
                X = fit.sample(1000)[0]

    if threads is None:
        seconds = _timed(run)
    else:
        with threadpool_limits(limits=threads):
            seconds = _timed(run)
    per_chain_generation = seconds / (measured_chains * (generations + 1))
    return 1.0 / (per_chain_generation * chains)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gmm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=256)
    parser.add_argument("--generations", type=int, default=30, help="generations timed for this project")
    parser.add_argument("--sklearn-generations", type=int, default=3)
    parser.add_argument("--sklearn-chains", type=int, default=8, help="chains actually run by the sklearn loop")
    parser.add_argument("--quick", action="store_true", help="64 chains, 10 generations")
    args = parser.parse_args(argv)
    if args.quick:
        args.chains, args.generations, args.sklearn_chains = 64, 10, 4
    enable_compilation_cache()
    start = time.strftime("%H:%M:%S")
    jax_rate = ours(args.chains, args.generations)
    sync_rate = ours(args.chains, args.generations, scheduler="sync")
    sk_default = sklearn_loop(args.chains, args.sklearn_generations, args.sklearn_chains, None)
    sk_one = sklearn_loop(args.chains, args.sklearn_generations, args.sklearn_chains, 1)
    best = max(sk_default, sk_one)
    print(f"GMM recursion, K=2, d=2, N=1000, tol=1e-5, {args.chains} chains (started {start})")
    print(f"  jax (this project), async     {jax_rate:10.3f} generations/s  ({jax_rate * args.chains:9.1f} chain-gen/s)")
    print(f"  jax (this project), sync      {sync_rate:10.3f} generations/s  ({sync_rate * args.chains:9.1f} chain-gen/s)")
    print(f"  ratio async / sync            {jax_rate / sync_rate:10.2f}x")
    print(f"  sklearn fit+sample, default   {sk_default:10.4f} generations/s  ({sk_default * args.chains:9.1f} chain-gen/s)")
    print(f"  sklearn fit+sample, 1 thread  {sk_one:10.4f} generations/s  ({sk_one * args.chains:9.1f} chain-gen/s)")
    print(f"  ratio jax / sklearn default   {jax_rate / sk_default:10.1f}x")
    print(f"  ratio jax / sklearn 1 thread  {jax_rate / sk_one:10.1f}x")
    print(f"  ratio jax / best sklearn      {jax_rate / best:10.1f}x   (goal >= 20x at 256 chains)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
