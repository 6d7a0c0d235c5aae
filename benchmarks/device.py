"""The accelerator suite: every workload's throughput, its ratio against the peer measured on the same
machine in the same run, and its fraction of a physical ceiling measured there too.

    PYTHONPATH=. python -m benchmarks.device                # one GPU/TPU, under 6 minutes
    PYTHONPATH=. python -m benchmarks.device --tiny         # the same code at toy sizes (CPU, a test runs it)
    PYTHONPATH=. python -m benchmarks.device --only discrete,opt --out /tmp/dev

Workloads (full size; ``--tiny`` shrinks every one):

  ceilings   uniforms/s of ``jax.random.bits`` (Threefry, the project's PRNG) summed on the device, so
             nothing is written to memory; f32 and bf16 matmul FLOP/s (n = 8192)
  discrete   K=100, M=1000 chain at 10^4, 10^5, 10^6 chains: chain-generations/s end to end (a call of
             2G generations, compile excluded) and steady (the extra G generations of that call over a call
             of G), against numpy's vectorised multinomial on this machine's CPU, and against the RNG
             ceiling converted to chain-generations (2 uniforms per binomial draw, K-1 conditional
             binomials per chain-generation: the least an exact multinomial can use)
  gaussian   d=10, M=100, sufficient statistics, 10^5 chains: against numpy batched over chains and
             numpy one chain at a time (the CPU benchmark's paths); RNG ceiling with d + d(d-1)/2
             normals and d chi-squares (>= 2 uniforms each) per chain-generation
  gmm        EM (2 components, 2-D, N=1000) at 256 and 4096 chains: against scikit-learn fit+sample per
             chain (1 thread and default threads, timed on a few fits and scaled); approximate EM FLOP/s
             (60 N K per iteration, k-means++ not counted) against the f32 matmul ceiling
  opt        OPT-125m shape, random weights: training tokens/s (AdamW, dropout, batch 128 x 64 as the
             paper) and 5-beam generation tokens/s (64 prompts of 64 tokens, exactly 64 new, repetition
             penalty 3.0) against transformers/PyTorch on the same device; training MFU against the
             measured matmul ceiling and the chip's nominal dense bf16 peak where known
  sweep      a 100-point discrete sweep (10 M x 10 gamma, K=100, 1000 chains per point): against a numpy
             loop over points (vectorised multinomial per point, timed on 3 points and scaled)

Everything is printed as it is measured and written after every workload to ``--out`` (default
runs/device/): ``<time>-<backend>.json`` and ``.md`` and copies named ``latest.json``/``latest.md``, so
a run cut short by its time limit still leaves what it measured. Each workload is timed after one warm-up
call (its compile time is reported apart) as the median of calls until ``--min-time`` seconds. A
workload that fails is recorded with its error and the suite goes on; ``--budget`` seconds (default
330) skips the workloads that would start after it.

Install on a machine without network whose Python has jax (with CUDA), flax, optax, transformers and
torch: nothing to install, run from the checkout with ``PYTHONPATH=.`` (or ``pip install --no-deps
--no-build-isolation -e .`` once).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

# Dense peak FLOP/s by device kind (vendor data sheets, SXM parts); None where unknown. MFU against it
# is printed beside MFU against the matmul rate measured in the same run.
NOMINAL_PEAKS = {
    "H200": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
    "H100": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
    "A100": {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12},
}

FULL = {
    "min_time": 1.0,
    "rng": {"n": 1 << 24, "loops": 16},
    "matmul": {"n": 8192},
    "discrete": {"states": 100, "samples": 1000, "runs": [(10_000, 200), (100_000, 100), (1_000_000, 20)],
                 "numpy_chains": 20_000},
    "gaussian": {"dim": 10, "samples": 100, "chains": 100_000, "generations": 100, "numpy_chains": 4096,
                 "numpy_generations": 3, "loop_chain_generations": 300},
    "gmm": {"runs": [(256, 10), (4096, 10)], "samples": 1000, "sklearn_chains": 2, "sklearn_generations": 1},
    "opt": {"config": "125m", "train": (128, 64), "gen": (64, 64, 64), "train_repeats": 5, "gen_repeats": 2},
    "sweep": {"states": 100, "m_values": 10, "gamma_values": 10, "chains": 1000, "generations": 100,
              "numpy_points": 3},
}
TINY = {
    "min_time": 0.05,
    "rng": {"n": 1 << 16, "loops": 2},
    "matmul": {"n": 256},
    "discrete": {"states": 100, "samples": 1000, "runs": [(64, 2)], "numpy_chains": 256},
    "gaussian": {"dim": 10, "samples": 100, "chains": 128, "generations": 4, "numpy_chains": 64,
                 "numpy_generations": 2, "loop_chain_generations": 20},
    "gmm": {"runs": [(8, 1)], "samples": 1000, "sklearn_chains": 1, "sklearn_generations": 0},
    "opt": {"config": "tiny", "train": (2, 16), "gen": (2, 8, 4), "train_repeats": 2, "gen_repeats": 1},
    "sweep": {"states": 100, "m_values": 10, "gamma_values": 10, "chains": 2, "generations": 2, "numpy_points": 1},
}
OPT_CONFIGS = {
    "125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, ffn_dim=3072, vocab_size=50272,
                 max_position_embeddings=2048),
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64, vocab_size=512,
                 max_position_embeddings=64),
}
WORKLOADS = ("ceilings", "discrete", "gaussian", "gmm", "opt", "sweep")


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


WARMUP = [True]  # --tiny: no warm-up calls (its rates then include compilation; they only prove the code runs)


def measure(fn: Callable[[], Any], min_time: float, max_calls: int = 20) -> dict[str, float]:
    """One warm-up call (compile time), then calls until ``min_time`` seconds: median seconds per call."""
    first = _timed(fn) if WARMUP[0] else None
    times: list[float] = []
    while not times or (sum(times) < min_time and len(times) < max_calls):
        times.append(_timed(fn))
    median = statistics.median(times)
    return {"first_s": median if first is None else first, "median_s": median, "best_s": min(times),
            "calls": len(times)}


def _block(x):
    import jax

    return jax.block_until_ready(x)


# --------------------------------------------------------------------------------------------
# Ceilings
# --------------------------------------------------------------------------------------------


def rng_ceiling(size: dict, min_time: float) -> dict:
    """Uniform 32-bit words per second from ``jax.random.bits`` with the project's Threefry keys, summed
    on the device so that nothing is written to memory."""
    import jax
    import jax.numpy as jnp

    n, loops = size["n"], size["loops"]
    key = jax.random.key(0, impl="threefry2x32")

    @jax.jit
    def draw(key):
        def body(i, acc):
            return acc + jnp.sum(jax.random.bits(jax.random.fold_in(key, i), (n,), jnp.uint32), dtype=jnp.uint32)

        return jax.lax.fori_loop(0, loops, body, jnp.uint32(0))

    t = measure(lambda: _block(draw(key)), min_time)
    return {"uniforms_per_s": n * loops / t["median_s"], "words": n * loops, "impl": "threefry2x32",
            "compile_s": t["first_s"] - t["median_s"]}


def matmul_ceiling(size: dict, min_time: float) -> dict:
    """FLOP/s of one n x n matmul, f32 (JAX's default precision on this backend) and bf16 (f32 accumulation)."""
    import jax
    import jax.numpy as jnp

    n = size["n"]
    out = {"n": n}
    for name, dtype in (("f32", jnp.float32), ("bf16", jnp.bfloat16)):
        a = jax.random.normal(jax.random.key(1), (n, n), dtype)
        b = jax.random.normal(jax.random.key(2), (n, n), dtype)
        f = jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32))
        t = measure(lambda: _block(f(a, b)), min_time)
        out[f"{name}_flops"] = 2.0 * n ** 3 / t["median_s"]
    return out


def nominal_peak(device_kind: str) -> dict | None:
    for name, peaks in NOMINAL_PEAKS.items():
        if name.lower() in device_kind.lower():
            return {"part": name, **peaks}
    return None


# --------------------------------------------------------------------------------------------
# Workloads: each returns a list of records
# --------------------------------------------------------------------------------------------


def record(workload: str, size: str, throughput: float, unit: str, peers: list[dict], ceiling: dict | None,
           compile_s: float | None, **extra) -> dict:
    """One row of the suite: ``peers`` are {name, throughput, where}; the ratio is ours / theirs."""
    for p in peers:
        p["ratio"] = throughput / p["throughput"] if p.get("throughput") else None
    if ceiling is not None and ceiling.get("value"):
        ceiling["fraction"] = throughput / ceiling["value"]
    compile_s = max(compile_s, 0.0) if WARMUP[0] and compile_s is not None else None
    return {"workload": workload, "size": size, "throughput": throughput, "unit": unit, "peers": peers,
            "ceiling": ceiling, "compile_s": compile_s, **extra}


def discrete_workload(size: dict, ctx: dict, min_time: float) -> list[dict]:
    from collapse_jax import discrete

    k, m = size["states"], size["samples"]
    rng = np.random.default_rng(0)
    c = size["numpy_chains"]
    p = np.full((c, k), 1.0 / k)
    calls = [0]

    def numpy_step():
        nonlocal p
        p = rng.multinomial(m, p) / m
        calls[0] += 1

    t = measure(numpy_step, min_time)
    numpy_rate = c / t["median_s"]
    per_chain_gen = 2 * (k - 1)  # uniforms: 2 per binomial draw, K-1 conditional binomials
    out = []
    for chains, gens in size["runs"]:
        # simulate() compiles (or loads from the persistent cache) on every call: time a call of G and
        # one of 2G generations run in blocks of G (record_every pins the block), and report both the
        # end-to-end rate of the longer call and the steady rate of the extra G generations
        run = lambda g: discrete.simulate("uniform", states=k, samples=m, chains=chains,  # noqa: E731
                                          generations=g, record_every=gens, seed=0, progress=False)
        if WARMUP[0]:
            first = _timed(lambda: run(gens))
            one, two = _timed(lambda: run(gens)), _timed(lambda: run(2 * gens))
        else:  # --tiny: one call proves the code runs (each call here compiles anew)
            first = one = two = _timed(lambda: run(2 * gens))
        rate = 2 * chains * gens / two
        steady = chains * gens / (two - one) if two > one else None
        ceiling = None
        if ctx.get("rng"):
            value = ctx["rng"]["uniforms_per_s"] / per_chain_gen
            ceiling = {"name": f"RNG: uniforms/s / {per_chain_gen} per chain-generation", "value": value,
                       "unit": "chain-gen/s", "fraction_steady": steady / value if steady else None}
        out.append(record("discrete", f"K={k} M={m} chains={chains:.0e} gens={2 * gens}", rate, "chain-gen/s",
                          [{"name": "numpy Generator.multinomial, all chains at once", "where": "CPU",
                            "throughput": numpy_rate}], ceiling, max(first - one, 0.0), seconds=two,
                          steady_rate=steady, per_call_overhead_s=max(2 * one - two, 0.0)))
    return out


def gaussian_workload(size: dict, ctx: dict, min_time: float) -> list[dict]:
    from benchmarks.gaussian import numpy_batched, numpy_loop
    from collapse_jax import gaussian

    d, m, chains, gens = size["dim"], size["samples"], size["chains"], size["generations"]
    run = lambda: gaussian.simulate(np.zeros(d), np.eye(d), samples=m, generations=gens, chains=chains,  # noqa: E731
                                    spectral_every=0)
    t = measure(run, min_time, max_calls=5)
    rate = chains * gens / t["median_s"]
    peers = [{"name": "numpy batched over chains (points, cov, Cholesky)", "where": "CPU",
              "throughput": 1.0 / numpy_batched(d, m, size["numpy_chains"], size["numpy_generations"])},
             {"name": "numpy one chain at a time (multivariate_normal + cov)", "where": "CPU",
              "throughput": 1.0 / numpy_loop(d, m, size["loop_chain_generations"])}]
    per = d + d * (d - 1) // 2 + 2 * d
    ceiling = None
    if ctx.get("rng"):
        ceiling = {"name": f"RNG: uniforms/s / {per} per chain-generation", "value": ctx["rng"]["uniforms_per_s"] / per,
                   "unit": "chain-gen/s"}
    return [record("gaussian", f"d={d} M={m} stats chains={chains:.0e} gens={gens}", rate, "chain-gen/s", peers,
                   ceiling, t["first_s"] - t["median_s"], seconds=t["median_s"], us_per_chain_gen=1e6 / rate)]


def gmm_workload(size: dict, ctx: dict, min_time: float) -> list[dict]:
    from benchmarks.gmm import sklearn_loop
    from collapse_jax import gmm

    n = size["samples"]
    out = []
    for chains, gens in size["runs"]:
        result = {}

        def run():
            result["r"] = gmm.simulate("blob", components=2, samples=n, generations=gens, chains=chains, tol=1e-5,
                                       max_iter=2000, reg_covar=1e-6, progress=False)

        t = measure(run, min_time, max_calls=3)
        rate = chains * (gens + 1) / t["median_s"]  # generation 0, the fit to real data, counts
        peers = []
        for threads, label in ((1, "1 thread"), (None, "default threads")):
            try:
                gps = sklearn_loop(chains, size["sklearn_generations"], size["sklearn_chains"], threads)
            except ImportError as err:
                peers.append({"name": f"scikit-learn ({label})", "where": "CPU", "throughput": None,
                              "error": f"not installed: {err}"})
                continue
            peers.append({"name": f"scikit-learn fit + sample per chain ({label})", "where": "CPU",
                          "throughput": gps * chains})
        iterations = float(np.mean(result["r"].metrics["iterations"]))
        flops = 60.0 * n * 2 * iterations * rate  # 60 N K per EM iteration, K = 2
        ceiling = None
        if ctx.get("matmul"):
            ceiling = {"name": "EM FLOP/s (60 N K per iteration) / f32 matmul FLOP/s", "value": None, "unit": "FLOP/s",
                       "fraction_flops": flops / ctx["matmul"]["f32_flops"]}
        out.append(record("gmm", f"K=2 d=2 N={n} chains={chains} gens={gens}", rate, "chain-gen/s", peers, ceiling,
                          t["first_s"] - t["median_s"], seconds=t["median_s"], generations_per_s=rate / chains,
                          em_iterations_mean=iterations, em_flops_per_s=flops))
    return out


def opt_workload(size: dict, ctx: dict, min_time: float) -> list[dict]:
    import jax
    import torch
    import transformers

    from benchmarks.opt import torch_trainer
    from collapse_jax import lm

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32, as JAX's default precision for f32 matmuls on GPU
    torch.manual_seed(0)
    hf_config = transformers.OPTConfig(**OPT_CONFIGS[size["config"]])
    torch_model = transformers.OPTForCausalLM(hf_config)
    with tempfile.TemporaryDirectory() as tmp:
        torch_model.save_pretrained(tmp)
        model, config = lm.load_model(tmp)
    torch_model = torch_model.to(device)
    vocab = min(hf_config.vocab_size, 50265)
    rng = np.random.RandomState(0)
    out = []

    # 5-beam generation (first, while both sides hold the same weights)
    gb, prompt_len, new = size["gen"]
    prompts = rng.randint(4, vocab, size=(gb, prompt_len))
    prompts[:, 0] = 2
    kwargs = dict(num_beams=5, max_new_tokens=new, min_new_tokens=new, repetition_penalty=3.0)
    torch_model.eval()
    p_t = torch.tensor(prompts, device=device)

    def torch_gen():
        with torch.no_grad():
            seqs = torch_model.generate(p_t, attention_mask=torch.ones_like(p_t), do_sample=False, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        return seqs

    jax_gen = lambda: _block(lm.beam_search(model, prompts, **kwargs).sequences_BxL)  # noqa: E731
    tj = measure(jax_gen, min_time, max_calls=size["gen_repeats"])
    tt = measure(torch_gen, min_time, max_calls=size["gen_repeats"])
    same = bool(np.array_equal(np.asarray(jax_gen()), torch_gen().cpu().numpy()))
    gen_rate = gb * new / tj["median_s"]
    out.append(record("opt", f"{size['config']}: 5-beam generation, {gb} prompts x {prompt_len} + {new} new tokens",
                      gen_rate, "new tokens/s",
                      [{"name": f"transformers generate (torch {torch.__version__}, {device})", "where": device,
                        "throughput": gb * new / tt["median_s"]}], None, tj["first_s"] - tj["median_s"],
                      same_tokens=same))

    # training
    b, t_len = size["train"]
    ids = rng.randint(4, vocab, size=(b, t_len))
    ids[:, 0] = 2
    torch_step = torch_trainer(torch_model, ids, device)

    tx = lm.adamw(1e-5)
    holder = {"state": lm.init_train_state(model, tx)}
    step = lm.make_train_step(model, tx)
    batch = {"input_ids": ids}

    def jax_step():
        holder["state"], metrics = step(holder["state"], batch)
        return float(metrics["loss"])

    tj = measure(jax_step, min_time, max_calls=size["train_repeats"])
    tt = measure(torch_step, min_time, max_calls=size["train_repeats"])
    tokens = b * t_len
    rate = tokens / tj["median_s"]
    flops_per_token = config.flops_per_token(seq_len=t_len)["train"]
    ceiling = None
    if ctx.get("matmul"):
        ceiling = {"name": "MFU: model FLOP/s / measured f32 matmul FLOP/s", "unit": "FLOP/s",
                   "value": ctx["matmul"]["f32_flops"] / flops_per_token}
    peak = ctx.get("nominal_peak")
    out.append(record("opt", f"{size['config']}: training, AdamW + dropout, batch {b} x {t_len}", rate, "tokens/s",
                      [{"name": f"transformers + torch.optim.AdamW (torch {torch.__version__}, {device})",
                        "where": device, "throughput": tokens / tt["median_s"]}], ceiling,
                      tj["first_s"] - tj["median_s"], model_flops_per_s=rate * flops_per_token,
                      mfu_measured_f32=(rate * flops_per_token / ctx["matmul"]["f32_flops"]) if ctx.get("matmul") else None,
                      mfu_nominal_bf16=(rate * flops_per_token / peak["bf16"]) if peak else None,
                      params=lm.param_count(model)))
    del jax
    return out


def sweep_workload(size: dict, ctx: dict, min_time: float) -> list[dict]:
    from collapse_jax import sweep

    k, c, gens = size["states"], size["chains"], size["generations"]
    ms = sorted({int(round(v)) for v in np.logspace(1, 4, size["m_values"])})
    gammas = [round(float(g), 4) for g in np.linspace(0.0, 0.5, size["gamma_values"])]
    cfg = {"family": "discrete", "generations": gens, "chains": c, "metrics_every": max(1, gens // 10),
           "metrics": ["gini_simpson", "surviving", "tv"], "fixed": {"states": k, "init": "zipf:1.1"},
           "grid": {"samples": ms, "gamma": gammas}}
    points = len(ms) * len(gammas)
    tmp = Path(tempfile.mkdtemp(prefix="device-sweep-"))
    try:
        runs = [0]

        def run():
            runs[0] += 1
            sweep.run(cfg, tmp / f"s{runs[0]}", progress=False)

        t = measure(run, min_time, max_calls=3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    work = points * c * gens
    rate = work / t["median_s"]
    w = np.arange(1, k + 1, dtype=float) ** -1.1
    p0 = w / w.sum()
    rng = np.random.default_rng(0)
    pick = [(ms[i], gammas[j]) for i, j in zip(rng.integers(0, len(ms), size["numpy_points"]),
                                               rng.integers(0, len(gammas), size["numpy_points"]))]

    def numpy_points():
        for m, g in pick:
            p = np.tile(p0, (c, 1))
            for _ in range(gens):
                q = (1 - g) * p + g * p0
                p = rng.multinomial(m, q / q.sum(1, keepdims=True)) / m

    tn = measure(numpy_points, min_time, max_calls=3)
    per_chain_gen = 2 * (k - 1)
    ceiling = None
    if ctx.get("rng"):
        ceiling = {"name": f"RNG: uniforms/s / {per_chain_gen} per chain-generation",
                   "value": ctx["rng"]["uniforms_per_s"] / per_chain_gen, "unit": "chain-gen/s"}
    return [record("sweep", f"{points} points (10 M x 10 gamma), K={k}, {c} chains/point, {gens} gens", rate,
                   "chain-gen/s", [{"name": f"numpy loop over points (vectorised multinomial; {len(pick)} points "
                                            "timed, scaled)", "where": "CPU",
                                    "throughput": len(pick) * c * gens / tn["median_s"]}],
                   ceiling, t["first_s"] - t["median_s"], seconds=t["median_s"], points=points)]


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _g(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# collapse-jax device suite ({report['size']})", "",
             f"{env['device_kind']} x{env['device_count']} ({env['backend']}), jax {env['jax']}, "
             f"{env['cpu_count']} CPU cores; started {report['started']}, {report['elapsed_s']:.0f} s", ""]
    c = report.get("ceilings") or {}
    if c:
        rng, mm = c.get("rng") or {}, c.get("matmul") or {}
        lines += [f"Ceilings measured here: RNG {_g(rng.get('uniforms_per_s'))} uniforms/s (threefry, summed on the "
                  f"device); matmul n={mm.get('n')}: f32 {_g(mm.get('f32_flops'))} FLOP/s, bf16 "
                  f"{_g(mm.get('bf16_flops'))} FLOP/s" + (f"; nominal {c['nominal_peak']['part']} bf16 peak "
                                                          f"{_g(c['nominal_peak']['bf16'])}" if c.get("nominal_peak") else ""),
                  ""]
    lines += ["| workload | size | throughput | peer (where) | ours / peer | ceiling | fraction of ceiling | compile s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["records"]:
        if "error" in r or "skipped" in r:
            lines.append(f"| {r['workload']} | – | {'error: ' + r['error'][:80] if 'error' in r else 'skipped: ' + r['skipped']}"
                         " | | | | | |")
            continue
        peers = r["peers"] or [{}]
        ceiling = r.get("ceiling") or {}
        frac = ceiling.get("fraction", ceiling.get("fraction_flops"))
        for i, p in enumerate(peers):
            first = i == 0
            lines.append(
                f"| {r['workload'] if first else ''} | {r['size'] if first else ''} | "
                f"{(_g(r['throughput']) + ' ' + r['unit']) if first else ''} | "
                f"{p.get('name', '–')} ({p.get('where', '')}): {_g(p.get('throughput'))} | {_g(p.get('ratio'))} | "
                f"{ceiling.get('name', '–') if first else ''} | {_g(frac) if first else ''} | "
                f"{_g(r.get('compile_s'), 2) if first else ''} |")
        extras = {k: r[k] for k in ("steady_rate", "per_call_overhead_s", "mfu_measured_f32", "mfu_nominal_bf16",
                                    "same_tokens", "us_per_chain_gen", "em_iterations_mean") if r.get(k) is not None}
        if extras:
            lines.append(f"| | | {', '.join(f'{k} = {_g(v) if not isinstance(v, bool) else v}' for k, v in extras.items())}"
                         " | | | | | |")
    return "\n".join(lines) + "\n"


def _write(out: Path, stem: str, report: dict) -> None:
    from collapse_jax.core.rundir import atomic_write_json, atomic_write_text

    atomic_write_json(out / f"{stem}.json", report)
    atomic_write_text(out / f"{stem}.md", markdown(report))
    atomic_write_json(out / "latest.json", report)
    atomic_write_text(out / "latest.md", markdown(report))


def environment() -> dict:
    import jax

    dev = jax.devices()[0]
    env = {"backend": jax.default_backend(), "device_kind": dev.device_kind, "device_count": jax.device_count(),
           "jax": jax.__version__, "python": platform.python_version(), "numpy": np.__version__,
           "cpu_count": os.cpu_count(), "host": platform.node()}
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_cuda"] = bool(torch.cuda.is_available())
    except ImportError:
        env["torch"] = None
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes: runs anywhere in seconds (what the test runs)")
    parser.add_argument("--out", default="runs/device", help="folder for the JSON and markdown (default runs/device)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--budget", type=float, default=330.0,
                        help="seconds after which no further workload starts (default 330)")
    parser.add_argument("--min-time", type=float, default=None, help="seconds of timed calls per measurement")
    args = parser.parse_args(argv)
    only = WORKLOADS if args.only is None else tuple(w.strip() for w in args.only.split(",") if w.strip())
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        print(f"python -m benchmarks.device: error: unknown workload {', '.join(unknown)}; expected some of "
              f"{', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.budget <= 0 or (args.min_time is not None and args.min_time <= 0):
        print("python -m benchmarks.device: error: --budget and --min-time must be > 0", file=sys.stderr)
        return 2
    from collapse_jax.core.cache import enable_compilation_cache
    from collapse_jax.core.errors import InputError
    from collapse_jax.core.rundir import claim

    try:
        out = claim(args.out, "device-benchmark", resume=True).path
    except InputError as err:
        print(f"python -m benchmarks.device: error: {err}", file=sys.stderr)
        return 2
    enable_compilation_cache()
    sizes = TINY if args.tiny else FULL
    WARMUP[0] = not args.tiny
    min_time = args.min_time if args.min_time is not None else sizes["min_time"]
    start = time.perf_counter()
    env = environment()
    stem = time.strftime("%Y%m%d-%H%M%S") + f"-{env['backend']}{'-tiny' if args.tiny else ''}"
    report: dict[str, Any] = {"size": "tiny" if args.tiny else "full", "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                              "environment": env, "sizes": sizes, "ceilings": {}, "records": [], "elapsed_s": 0.0}
    print(f"device suite ({report['size']}): {env['device_kind']} x{env['device_count']} ({env['backend']}), "
          f"jax {env['jax']}, torch {env.get('torch')}, {env['cpu_count']} CPU cores -> {out}", flush=True)
    ctx: dict[str, Any] = {"nominal_peak": nominal_peak(env["device_kind"])}
    report["ceilings"]["nominal_peak"] = ctx["nominal_peak"]
    runners = {"discrete": discrete_workload, "gaussian": gaussian_workload, "gmm": gmm_workload,
               "opt": opt_workload, "sweep": sweep_workload}
    # the ceilings come first: the other workloads' fractions need them
    for name in ("ceilings",) + tuple(w for w in WORKLOADS if w != "ceilings"):
        if name not in only and not (name == "ceilings" and set(only) & {"discrete", "gaussian", "gmm", "opt", "sweep"}):
            continue
        elapsed = time.perf_counter() - start
        if elapsed > args.budget:
            report["records"].append({"workload": name, "skipped": f"time budget ({args.budget:.0f} s) spent"})
            print(f"[{name}] skipped: {elapsed:.0f} s > budget {args.budget:.0f} s", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            if name == "ceilings":
                ctx["rng"] = rng_ceiling(sizes["rng"], min_time)
                ctx["matmul"] = matmul_ceiling(sizes["matmul"], min_time)
                report["ceilings"].update(rng=ctx["rng"], matmul=ctx["matmul"])
                print(f"[ceilings] RNG {ctx['rng']['uniforms_per_s']:.3g} uniforms/s; matmul f32 "
                      f"{ctx['matmul']['f32_flops']:.3g}, bf16 {ctx['matmul']['bf16_flops']:.3g} FLOP/s "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
            else:
                for r in runners[name](sizes[name], ctx, min_time):
                    report["records"].append(r)
                    peers = "; ".join(f"{p['name']}: {_g(p.get('throughput'))} ({_g(p.get('ratio'))}x)" for p in r["peers"])
                    frac = (r.get("ceiling") or {}).get("fraction", (r.get("ceiling") or {}).get("fraction_flops"))
                    print(f"[{name}] {r['size']}: {r['throughput']:.3g} {r['unit']}; {peers}; fraction of ceiling "
                          f"{_g(frac)}; compile {_g(r.get('compile_s'), 2)} s", flush=True)
                print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", flush=True)
        except Exception as err:  # one failure must not cost the rest of a short window
            report["records"].append({"workload": name, "error": f"{type(err).__name__}: {err}",
                                      "traceback": traceback.format_exc()[-2000:]})
            print(f"[{name}] FAILED: {type(err).__name__}: {err}", flush=True)
        report["elapsed_s"] = time.perf_counter() - start
        _write(out, stem, report)
    report["elapsed_s"] = time.perf_counter() - start
    _write(out, stem, report)
    print(markdown(report), flush=True)
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')} ({report['elapsed_s']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
