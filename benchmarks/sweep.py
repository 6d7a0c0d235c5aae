"""A whole discrete grid as one sweep, against the per-point ways users run it today.

    python -m benchmarks.sweep                 # scaled down for a shared CPU (a few minutes)
    python -m benchmarks.sweep --full          # the issue's size: 200 points x 1000 chains x 500 gens

Grid: K = 100 (Zipf 1.1 start), M log-spaced over 10 ... 10^4, gamma over 0 ... 0.5 (replace).
  one sweep            collapse_jax.sweep.run on the whole grid (all points in one kernel group)
  single-point loop    discrete.simulate called once per point (compiles per call)
  process per point    a fresh `python -c` numpy process per point, vectorised over that point's
                       chains with Generator.multinomial (a generous version of the peers)
  peer style           a process per point looping over chains with np.random.choice + bincount,
                       as the Collapse-or-Thrive code does
The loops are timed on a few points and scaled to the grid (stated). Then: throughput against
chains per point, and the cost of writing one chunk and of resuming a finished sweep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NUMPY_POINT = """
import sys, numpy as np
K, M, gamma, chains, G = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
w = np.arange(1, K + 1, dtype=float) ** -1.1
p0 = w / w.sum()
rng = np.random.default_rng(0)
p = np.tile(p0, (chains, 1))
gini = np.empty((G + 1, chains)); gini[0] = 1 - (p * p).sum(1)
for t in range(G):
    q = (1 - gamma) * p + gamma * p0
    p = rng.multinomial(M, q / q.sum(1, keepdims=True)) / M
    gini[t + 1] = 1 - (p * p).sum(1)
np.save(sys.argv[6], gini.mean(1))
"""


PEER_POINT = """
import sys, numpy as np
K, M, gamma, chains, G = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
w = np.arange(1, K + 1, dtype=float) ** -1.1
p0 = w / w.sum()
for c in range(chains):  # one chain at a time: draw M points, refit the counts
    rng = np.random.default_rng(c)
    p = p0
    for t in range(G):
        q = (1 - gamma) * p + gamma * p0
        p = np.bincount(rng.choice(K, size=M, p=q / q.sum()), minlength=K) / M
"""


def grid(n_m: int, n_gamma: int) -> tuple[list[int], list[float]]:
    ms = sorted({int(round(v)) for v in np.logspace(1, 4, n_m)})
    gammas = [round(float(g), 4) for g in np.linspace(0.0, 0.5, n_gamma)]
    return ms, gammas


def sweep_config(ms, gammas, chains, generations, states=100, metrics_every=10, chunk_lanes=1 << 17):
    return {"family": "discrete", "generations": generations, "chains": chains, "metrics_every": metrics_every,
            "chunk_lanes": chunk_lanes, "metrics": ["gini_simpson", "surviving", "tv"],
            "fixed": {"states": states, "init": "zipf:1.1"}, "grid": {"samples": ms, "gamma": gammas}}


def time_sweep(cfg, tmp: Path, name: str):
    from collapse_jax import sweep

    out = tmp / name
    start = time.perf_counter()
    res = sweep.run(cfg, out, progress=False)
    return time.perf_counter() - start, res


def time_single_point_loop(points, states, chains, generations):
    from collapse_jax import discrete

    start = time.perf_counter()
    for m, g in points:
        discrete.simulate("zipf:1.1", states=states, samples=m, gamma=g, generations=generations, chains=chains,
                          progress=False)
    return (time.perf_counter() - start) / len(points)


def time_process_per_point(points, states, chains, generations, tmp: Path):
    start = time.perf_counter()
    for i, (m, g) in enumerate(points):
        subprocess.run([sys.executable, "-c", NUMPY_POINT, str(states), str(m), str(g), str(chains),
                        str(generations), str(tmp / f"np{i}.npy")], check=True)
    return (time.perf_counter() - start) / len(points)


def time_peer_style(points, states, chains, generations, peer_chains):
    """Seconds per point of one process per point that loops over chains with np.random.choice +
    bincount (the peers' code), timed on ``peer_chains`` chains and scaled to ``chains``."""
    total = 0.0
    for m, g in points:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", PEER_POINT, str(states), str(m), str(g), "0", str(generations)],
                       check=True)
        startup = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", PEER_POINT, str(states), str(m), str(g), str(peer_chains),
                        str(generations)], check=True)
        work = time.perf_counter() - start - startup
        total += startup + max(work, 0.0) * chains / peer_chains
    return total / len(points)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="200 points x 1000 chains x 500 generations")
    parser.add_argument("--points-m", type=int, default=None, help="number of M values (default 20 full, 10)")
    parser.add_argument("--points-gamma", type=int, default=None, help="number of gamma values (default 10 full, 4)")
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--loop-points", type=int, default=3, help="points timed for the per-point loops")
    parser.add_argument("--peer-chains", type=int, default=5, help="chains timed for the peer-style loop")
    parser.add_argument("--no-scaling", action="store_true", help="skip the throughput-vs-chains table")
    parser.add_argument("--scaling", default=None, help="chains per point for the scaling table, comma separated")
    parser.add_argument("--cpu-devices", default="auto",
                        help="JAX CPU devices for the sweep: auto (one per core, as the collapse-jax command) or N")
    args = parser.parse_args(argv)
    import collapse_jax

    collapse_jax.use_cpu_cores(args.cpu_devices)
    full = args.full
    n_m = args.points_m or (20 if full else 10)
    n_g = args.points_gamma or (10 if full else 4)
    chains = args.chains or (1000 if full else 200)
    gens = args.generations or (500 if full else 100)
    scaling = [int(v) for v in (args.scaling or ("100,1000,10000,100000,1000000" if full else "100,1000,10000,100000")).split(",")]
    import jax

    from collapse_jax import sweep

    ms, gammas = grid(n_m, n_g)
    n_points = len(ms) * len(gammas)
    print(f"sweep benchmark ({'full' if full else 'scaled-down default'}): K=100 zipf:1.1, {len(ms)} M values "
          f"{ms[0]}..{ms[-1]} x {len(gammas)} gamma values 0..0.5 = {n_points} points, {chains} chains/point, "
          f"{gens} generations; jax {jax.__version__} on {jax.default_backend()}, {len(jax.devices())} device(s), "
          f"{os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        cfg = sweep_config(ms, gammas, chains, gens)
        cold, res = time_sweep(cfg, tmp, "cold")
        warm, res = time_sweep(cfg, tmp, "warm")
        work = n_points * chains * gens
        rng = np.random.default_rng(1)
        pick = [(ms[i], gammas[j]) for i, j in zip(rng.integers(0, len(ms), args.loop_points),
                                                   rng.integers(0, len(gammas), args.loop_points))]
        per_single = time_single_point_loop(pick, 100, chains, gens)
        per_proc = time_process_per_point(pick, 100, chains, gens, tmp)
        per_peer = time_peer_style(pick, 100, chains, gens, args.peer_chains)
        loop_total, proc_total, peer_total = per_single * n_points, per_proc * n_points, per_peer * n_points
        print(f"{'approach':44s} {'seconds':>10s} {'chain-gen/s':>12s} {'sweep is':>9s}")
        print(f"{'one sweep (incl. compile)':44s} {cold:10.1f} {work / cold:12.3g} {'':>9s}")
        print(f"{'one sweep (compiled kernel cached)':44s} {warm:10.1f} {work / warm:12.3g} {'':>9s}")
        print(f"{'single-point API loop (x' + str(n_points) + ' from ' + str(len(pick)) + ' pts)':44s} "
              f"{loop_total:10.1f} {work / loop_total:12.3g} {loop_total / cold:8.1f}x")
        print(f"{'numpy process per point (x' + str(n_points) + ' from ' + str(len(pick)) + ' pts)':44s} "
              f"{proc_total:10.1f} {work / proc_total:12.3g} {proc_total / cold:8.1f}x")
        print(f"{'peer style: process/point, choice+bincount':44s} "
              f"{peer_total:10.1f} {work / peer_total:12.3g} {peer_total / cold:8.1f}x")
        print(f"  (loops timed on {len(pick)} random points and scaled to {n_points}; peer style timed on "
              f"{args.peer_chains} chains per point and scaled to {chains})")
        print(f"  chunks: {res.stats['chunks']}; summary table {len(res.rows)} rows; finalize "
              f"{res.stats['finalize_s']:.2f} s")

        # Chunk write and resume cost.
        chunk_files = sorted((tmp / "warm" / "chunks").glob("*.npz"))
        size = sum(f.stat().st_size for f in chunk_files) / len(chunk_files)
        write_per = res.stats["write_s"] / max(res.stats["new_chunks"], 1)
        start = time.perf_counter()
        again = sweep.run(cfg, tmp / "warm", progress=False)
        resume = time.perf_counter() - start
        assert again.stats["new_chunks"] == 0
        print(f"  one chunk write: {write_per * 1e3:.0f} ms for {size / 1e6:.1f} MB "
              f"({100 * write_per * res.stats['new_chunks'] / warm:.1f}% of the sweep); resuming the finished sweep "
              f"(verify {len(chunk_files)} chunks + rebuild table): {resume:.2f} s")

        # Throughput against chains per point (one point, compile excluded).
        print(f"\nthroughput vs chains per point (K=100, M=1000, 20 generations, one point, compile excluded):")
        print(f"{'chains':>9s} {'seconds':>9s} {'chain-gen/s':>12s}")
        for c in ([] if args.no_scaling else scaling):
            one = sweep_config([1000], [0.0], c, 20, metrics_every=20, chunk_lanes=max(c, 1))
            time_sweep(one, tmp, f"s{c}-warmup")
            dt, _ = time_sweep(one, tmp, f"s{c}")
            print(f"{c:9d} {dt:9.2f} {c * 20 / dt:12.3g}")
            shutil.rmtree(tmp / f"s{c}-warmup", ignore_errors=True)
            shutil.rmtree(tmp / f"s{c}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
