"""Discrete chain throughput against the peers a user would pick instead, measured in one run.

    python -m benchmarks.discrete [--chains 4096 --states 100 --samples 1000 --generations 200]

Chain-generations per second (higher is better), replace workflow, uniform p_0:
  collapse-jax        this project's kernel (compile time reported separately)
  numpy multinomial   Generator.multinomial on all chains at once, a Python loop over generations
  jax multinomial     jax.random.multinomial under vmap, jitted (measured on a few generations)
  official style      one chain at a time, np.random.choice + bincount (measured on a few chains)
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np


def collapse_jax_rate(chains, states, samples, generations):
    from collapse_jax import discrete

    kw = dict(states=states, samples=samples, chains=chains, seed=0, progress=False)
    start = time.perf_counter()
    discrete.simulate("uniform", generations=1, **kw)  # compile (the block shape differs, so time it apart)
    compile_s = time.perf_counter() - start
    discrete.simulate("uniform", generations=generations, **kw)  # compile the full-length block
    start = time.perf_counter()
    discrete.simulate("uniform", generations=generations, **kw)
    return chains * generations / (time.perf_counter() - start), compile_s


def numpy_rate(chains, states, samples, generations):
    rng = np.random.default_rng(0)
    p = np.full((chains, states), 1 / states)
    start = time.perf_counter()
    for _ in range(generations):
        p = rng.multinomial(samples, p) / samples
    return chains * generations / (time.perf_counter() - start)


def jax_multinomial_rate(chains, states, samples, generations=3):
    @jax.jit
    def step(keys, p):
        counts = jax.vmap(lambda k, q: jax.random.multinomial(k, samples, q))(keys, p)
        return counts / samples

    keys = jax.random.split(jax.random.key(0), chains)
    p = jnp.full((chains, states), 1 / states)
    step(keys, p).block_until_ready()
    start = time.perf_counter()
    for t in range(generations):
        p = step(jax.vmap(lambda k: jax.random.fold_in(k, t))(keys), p)
    p.block_until_ready()
    return chains * generations / (time.perf_counter() - start)


def official_style_rate(states, samples, generations, chains=8):
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(chains):
        p = np.full(states, 1 / states)
        for _ in range(generations):
            data = rng.choice(states, size=samples, p=p)
            p = np.bincount(data, minlength=states) / samples
    return chains * generations / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--states", type=int, default=100)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=200)
    args = parser.parse_args(argv)
    c, k, m, g = args.chains, args.states, args.samples, args.generations
    print(f"discrete chain, replace: K={k}, M={m}, {c} chains, {g} generations; "
          f"jax {jax.__version__} on {jax.default_backend()} ({os.cpu_count()} CPUs)")
    ours, compile_s = collapse_jax_rate(c, k, m, g)
    peers = {
        "numpy multinomial (vectorised)": numpy_rate(c, k, m, g),
        "jax.random.multinomial under vmap": jax_multinomial_rate(c, k, m),
        "official style (choice + bincount)": official_style_rate(k, m, g),
    }
    print(f"{'implementation':38s} {'chain-gen/s':>12s} {'collapse-jax is':>16s}")
    print(f"{'collapse-jax':38s} {ours:12.3g} {'':>16s}   (compile {compile_s:.1f} s, not included)")
    for name, rate in peers.items():
        print(f"{name:38s} {rate:12.3g} {ours / rate:15.2f}x")


if __name__ == "__main__":
    main()
