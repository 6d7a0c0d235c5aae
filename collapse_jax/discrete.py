"""Model collapse from sampling alone: a categorical distribution re-estimated from its own samples.

Each generation draws M_t samples from p_t and refits the empirical frequencies: counts ~
Multinomial(M_t, p_t), p_{t+1} = counts / M_t. This is the neutral haploid Wright–Fisher chain with
N = M (THEORY.md §2), simulated here for many independent chains at once, inside the general
process of :mod:`collapse_jax.core.process` (mixing with previous or original data, accumulate
workflows, sample-size schedules).

    >>> from collapse_jax import discrete
    >>> r = discrete.simulate("zipf:1.1", states=20, samples=100, generations=50, chains=500, progress=False)
    >>> r.metrics["gini_simpson"].shape
    (51, 500)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as sp_stats

from . import samplers

from .core import engine
from .core.errors import InputError, as_float, as_int, choice, require
from .core.process import Process, harmonic_sum
from .core.results import SimulationResult

PROBABILITY_TOLERANCE = 1e-6
METRICS = ("gini_simpson", "entropy", "surviving", "tv", "kl", "tail_lost", "absorbed")
DTYPES = ("float32", "float64")


# ---------------------------------------------------------------------------------------------
# Initial distributions


def initial_distribution(init: "str | Sequence[float] | np.ndarray", states: int | None = None) -> np.ndarray:
    """p_0 from ``'uniform'``, ``'zipf:S'`` (p_i ∝ i^-S), ``'counts:PATH'`` (a text file of
    non-negative counts, whitespace or comma separated), or an explicit probability vector."""
    if isinstance(init, str):
        kind, _, arg = init.partition(":")
        choice("initial distribution", kind, ("uniform", "zipf", "counts"))
        if kind == "counts":
            return _counts_file(arg)
        require(states is not None, f"initial distribution {init!r} needs the number of states")
        k = as_int("states", states, minimum=2)
        if kind == "uniform":
            require(not arg, f"'uniform' takes no parameter, got {init!r}")
            return np.full(k, 1.0 / k)
        require(bool(arg), "zipf needs an exponent, e.g. 'zipf:1.1'")
        s = as_float("zipf exponent", arg, minimum=0.0)
        w = np.arange(1, k + 1, dtype=np.float64) ** -s
        return w / w.sum()
    return validate_probabilities(init)


def _counts_file(path: str) -> np.ndarray:
    require(bool(path), "'counts:PATH' needs a file path")
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise InputError(f"cannot read counts file {path!r}: {err.strerror}") from None
    try:
        counts = np.array([float(v) for v in text.replace(",", " ").split()])
    except ValueError:
        raise InputError(f"counts file {path!r} must contain numbers only") from None
    require(counts.size >= 2, f"counts file {path!r} needs at least 2 counts, found {counts.size}")
    require(bool(np.all(np.isfinite(counts)) and np.all(counts >= 0)),
            f"counts in {path!r} must be finite and non-negative")
    require(counts.sum() > 0, f"counts in {path!r} are all zero")
    return counts / counts.sum()


def validate_probabilities(p: Any, name: str = "p0") -> np.ndarray:
    """A probability vector: 1-D, K >= 2, finite, non-negative, summing to 1 within
    PROBABILITY_TOLERANCE; returned renormalised in float64."""
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a vector of probabilities, got {p!r}") from None
    require(arr.ndim == 1, f"{name} must be one-dimensional, got shape {arr.shape}")
    require(arr.size >= 2, f"{name} needs at least K = 2 states, got K = {arr.size}")
    bad = ~np.isfinite(arr)
    require(not bad.any(), f"{name} has non-finite entries at {np.flatnonzero(bad)[:5].tolist()}")
    require(bool((arr >= 0).all()), f"{name} has negative entries, e.g. {name}[{int(np.argmin(arr))}] = {arr.min()}")
    total = arr.sum()
    require(abs(total - 1.0) <= PROBABILITY_TOLERANCE,
            f"{name} must sum to 1 (within {PROBABILITY_TOLERANCE}), sums to {total!r}")
    return arr / total


# ---------------------------------------------------------------------------------------------
# The kernel


class State(NamedTuple):
    model: jax.Array  # (C, K) the fitted model p_t
    prev: jax.Array  # (C, K) the distribution the latest data came from (for beta)
    pool: jax.Array  # (C, K) accumulated counts (accumulate workflows), else unused zeros
    absorbed_at: jax.Array  # (C,) first generation with one state left, -1 if none yet
    first_extinction: jax.Array  # (C,) first generation a state of p_0 was lost, -1 if none yet


def metrics_of(p_CxK: jax.Array, p0_K: jax.Array, tail_K: jax.Array) -> dict[str, jax.Array]:
    """Per-chain metrics of the model (float, computed on the device). 0 log 0 = 0."""
    alive = p_CxK > 0
    safe = jnp.where(alive, p_CxK, 1.0)
    p0_alive = p0_K > 0
    kl_terms = jnp.where(p0_alive, p0_K * (jnp.log(jnp.where(p0_alive, p0_K, 1.0)) - jnp.log(safe)), 0.0)
    # KL(p0 || p) is +inf once a state of p0 is lost: report that, never NaN.
    lost = jnp.any(p0_alive & ~alive, axis=-1)
    surviving = alive.sum(-1)
    return {
        "gini_simpson": 1.0 - jnp.sum(p_CxK * p_CxK, -1),
        "entropy": -jnp.sum(jnp.where(alive, p_CxK * jnp.log(safe), 0.0), -1),
        "surviving": surviving.astype(p_CxK.dtype),
        "tv": 0.5 * jnp.sum(jnp.abs(p_CxK - p0_K), -1),
        "kl": jnp.where(lost, jnp.inf, jnp.sum(kl_terms, -1)),
        "tail_lost": jnp.sum(jnp.where(tail_K & ~alive, p0_K, 0.0), -1),
        "absorbed": (surviving == 1).astype(p_CxK.dtype),
    }


def _per_row(v: jax.Array) -> jax.Array:
    """A scalar, or a per-chain (C,) array as a (C, 1) column, to broadcast against (C, K)."""
    v = jnp.asarray(v)
    return v[..., None] if v.ndim else v


def make_step(process: Process, p0_K: jax.Array, tail_K: jax.Array):
    """The pure generation step ``step(keys_C, state, x) -> (state, metrics)``.

    ``x['m']`` (and ``x['pool']``) may be scalars or per-chain (C,) arrays, the mixing weights
    Python floats or (C, 1) arrays and ``p0_K``/``tail_K`` (K,) or (C, K): the sweep runs many
    grid points as the chains of one kernel this way."""
    mix = process.mixing
    workflow = process.workflow
    p0_alive = p0_K > 0

    def step(keys_C, state: State, x):
        t, m = x["t"], x["m"]
        q = mix.alpha * state.model + mix.beta * state.prev + mix.gamma * p0_K
        counts = samplers.multinomial(keys_C, m, q)
        fdt = q.dtype
        if workflow == "replace":
            pool = state.pool
            model = counts.astype(fdt) / _per_row(m).astype(fdt)
        else:
            pool = state.pool + counts
            if workflow == "accumulate":
                fit_counts, size = pool, x["pool"]
            else:  # accumulate-subsample: M_t points without replacement from the pool
                sub_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys_C, 1)
                fit_counts = samplers.multivariate_hypergeometric(sub_keys, m, pool, dtype=fdt)
                size = m
            model = fit_counts.astype(fdt) / _per_row(size).astype(fdt)
        metrics = metrics_of(model, p0_K, tail_K)
        gen = (t + 1).astype(jnp.int32)
        absorbed_at = jnp.where((state.absorbed_at < 0) & (metrics["absorbed"] > 0), gen, state.absorbed_at)
        lost = jnp.any(p0_alive & (model <= 0), axis=-1)
        first_extinction = jnp.where((state.first_extinction < 0) & lost, gen, state.first_extinction)
        return State(model, q, pool, absorbed_at, first_extinction), metrics

    return step


def simulate(
    p0: "str | Sequence[float] | np.ndarray" = "uniform",
    *,
    states: int | None = None,
    samples: int | None = 100,
    generations: int = 100,
    chains: int = 1000,
    seed: int = 0,
    schedule: "str | Sequence[int]" = "constant",
    workflow: str = "replace",
    alpha: float | None = None,
    beta: float = 0.0,
    gamma: float = 0.0,
    tail_quantile: float = 0.1,
    record_every: int = 0,
    dtype: str = "float32",
    first_chain: int = 0,
    progress: bool = True,
) -> SimulationResult:
    """Simulate ``chains`` independent discrete chains for ``generations`` generations.

    ``p0`` is a probability vector or a spec (``'uniform'``, ``'zipf:S'``, ``'counts:PATH'``, the
    latter two needing ``states``). Returns a :class:`SimulationResult` whose metrics have shape
    (generations + 1, chains): ``gini_simpson`` (1 - Σp²), ``entropy`` (nats), ``surviving``
    states, ``tv`` and ``kl`` (KL(p_0 ‖ p), +inf once a state is lost) distances to p_0,
    ``tail_lost`` (p_0-mass of extinct states among those with p_0 at or below its
    ``tail_quantile`` quantile) and ``absorbed`` (one state left). ``events`` hold per chain the
    generation of absorption and of the first extinction (-1: not yet). ``record_every = k > 0``
    keeps the full distributions every k generations in ``trajectory``. ``first_chain`` offsets the
    chain indices, so chains ``first_chain ...`` are exactly those of a larger run (addressable
    randomness). ``dtype='float64'`` runs in double precision (exact laws for any sample size).
    """
    p0_K = initial_distribution(p0, states)
    process = Process.resolve(samples=samples, generations=generations, schedule=schedule,
                              workflow=workflow, alpha=alpha, beta=beta, gamma=gamma)
    chains = as_int("chains", chains, minimum=1)
    seed = as_int("seed", seed, minimum=0)
    first_chain = as_int("first_chain", first_chain, minimum=0)
    record_every = as_int("record_every", record_every, minimum=0)
    tail_quantile = as_float("tail_quantile", tail_quantile, minimum=0.0, maximum=1.0)
    choice("dtype", dtype, DTYPES)
    sizes = process.sizes()
    k = p0_K.size
    tail_K = p0_K <= np.quantile(p0_K, tail_quantile)

    with jax.enable_x64(dtype == "float64"):
        fdt = jnp.float64 if dtype == "float64" else jnp.float32
        idt = jnp.int64 if dtype == "float64" else jnp.int32
        p0_dev = jnp.asarray(p0_K, fdt)
        tail_dev = jnp.asarray(tail_K)
        model0 = jnp.broadcast_to(p0_dev, (chains, k))
        state = State(model0, model0, jnp.zeros((chains, k), idt),
                      jnp.full(chains, -1, jnp.int32), jnp.full(chains, -1, jnp.int32))
        m0 = {name: np.asarray(v) for name, v in metrics_of(p0_dev[None], p0_dev, tail_dev).items()}
        keys = engine.chain_keys(seed, chains, first=first_chain)
        xs = {"t": np.arange(generations, dtype=np.int32), "m": sizes.astype(np.int64 if dtype == "float64" else np.int32),
              "pool": np.cumsum(sizes).astype(np.int64 if dtype == "float64" else np.int32)}
        if workflow != "replace" and generations and xs["pool"][-1] != np.cumsum(sizes)[-1]:
            raise InputError("the accumulated pool exceeds 2^31 - 1 samples; use dtype='float64'")
        snapshots: list[np.ndarray] = [np.broadcast_to(p0_K, (chains, k)).astype(np.float32)] if record_every else []
        on_block = (lambda done, st: snapshots.append(np.asarray(st.model))) if record_every else None
        state, metrics = engine.run_generations(
            make_step(process, p0_dev, tail_dev), state, keys, xs,
            block=record_every or None, progress=progress, desc="discrete", on_block=on_block)
        final = np.asarray(state.model)
        events = {"absorbed_at": np.asarray(state.absorbed_at), "first_extinction": np.asarray(state.first_extinction)}

    metrics = {name: np.concatenate([np.broadcast_to(m0[name], (1, chains)), metrics.get(name, np.zeros((0, chains)))])
               for name in METRICS}
    config = {
        "family": "discrete", "states": k, "p0": p0_K.tolist(), "init": p0 if isinstance(p0, str) else "vector",
        "chains": chains, "seed": seed, "first_chain": first_chain, "tail_quantile": tail_quantile,
        "record_every": record_every, "dtype": dtype, **process.to_config(), "sizes": sizes.tolist(),
    }
    trajectory = {}
    if record_every:
        trajectory = {"p": np.stack(snapshots), "generation": np.minimum(
            np.arange(len(snapshots)) * record_every, generations)}
    return SimulationResult("discrete", config, metrics, final={"p": final},
                            predictions=predictions(p0_K, process, tail_K), events=events, trajectory=trajectory)


# ---------------------------------------------------------------------------------------------
# Closed forms (THEORY.md §2.2); theory/discrete.py checks them against simulation


def gini_simpson_expected(p0: np.ndarray, sizes: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    """E[H_t], t = 0..len(sizes), for replace with beta = 0 and real-data weight gamma.

    F_t = E Σp²: F_{t+1} = (1 - 1/M_t) [(1-γ)² F_t + (1 - (1-γ)²) F_0] + 1/M_t, H = 1 - F.
    With γ = 0 this is H_0 Π_{i<t} (1 - 1/M_i)."""
    f0 = float(np.sum(np.asarray(p0) ** 2))
    g2 = (1.0 - gamma) ** 2
    out = [f0]
    for m in np.asarray(sizes, dtype=np.float64):
        out.append((1 - 1 / m) * (g2 * out[-1] + (1 - g2) * f0) + 1 / m)
    return 1.0 - np.asarray(out)


def gini_simpson_fixed_point(p0: np.ndarray, samples: int, gamma: float) -> float:
    """lim E Σp² with real data kept (γ > 0, constant M): no absorption."""
    f0 = float(np.sum(np.asarray(p0) ** 2))
    a = 1 - 1 / samples
    g2 = (1 - gamma) ** 2
    return (a * (1 - g2) * f0 + 1 / samples) / (1 - a * g2)


def variance_expected(p0_i: float, samples: int, t: np.ndarray) -> np.ndarray:
    """Var(p_{i,t}) = p_i (1 - p_i) [1 - (1 - 1/M)^t] (replace, constant M)."""
    return p0_i * (1 - p0_i) * (1 - (1 - 1 / samples) ** np.asarray(t, dtype=np.float64))


def extinction_probabilities(p0: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """P(state i extinct after t generations), shape (len(sizes) + 1, K), exactly.

    Each marginal count is itself a two-state Wright–Fisher chain, so P(p_{i,t} = 0) follows from
    the (M+1)-state transition matrices P_{jk} = Binom(k; M_t, j/M_{t-1}) (any schedule). Cost
    O(K · M² · t): meant for small M. Distinct values of p_0 are computed once.
    """
    p0 = np.asarray(p0, dtype=np.float64)
    values, inverse = np.unique(p0, return_inverse=True)
    out = np.zeros((len(sizes) + 1, values.size))
    out[0] = values == 0
    if len(sizes):
        grid = np.arange(sizes[0] + 1)
        dist = sp_stats.binom.pmf(grid[None, :], sizes[0], values[:, None])  # (V, M_0 + 1)
        out[1] = dist[:, 0]
        for t in range(1, len(sizes)):
            prev_m, m = sizes[t - 1], sizes[t]
            trans = sp_stats.binom.pmf(np.arange(m + 1)[None, :], m, np.arange(prev_m + 1)[:, None] / prev_m)
            dist = dist @ trans
            out[t + 1] = dist[:, 0]
    return out[:, inverse]


def exact_transition_cost(p0: np.ndarray, sizes: np.ndarray) -> float:
    """Work of :func:`extinction_probabilities` in multiply-adds."""
    sizes = np.asarray(sizes, dtype=np.float64)
    return float(np.unique(p0).size * np.sum((sizes + 1) ** 2))


def predictions(p0: np.ndarray, process: Process, tail: np.ndarray, budget: float = 3e8) -> dict[str, np.ndarray]:
    """Closed-form expectations of the metrics, where the process admits one."""
    out: dict[str, np.ndarray] = {}
    sizes = process.sizes()
    mix = process.mixing
    if process.workflow != "replace" or mix.beta > 0:
        return out
    out["gini_simpson"] = gini_simpson_expected(p0, sizes, mix.gamma)
    if mix.gamma == 0 and exact_transition_cost(p0, sizes) <= budget:
        ext = extinction_probabilities(p0, sizes)
        alive0 = p0 > 0
        out["surviving"] = np.sum(1 - ext[:, alive0], axis=1)
        out["tail_lost"] = ext[:, tail] @ p0[tail]
    return out


def absorption_time_diffusion(p0: np.ndarray, samples: int) -> float:
    """Mean generations until one state remains, −2M Σ (1 − p_i) ln(1 − p_i) (Littler 1975;
    a diffusion approximation, right to O(1) generations for large M)."""
    p = np.asarray(p0, dtype=np.float64)
    terms = np.where(p < 1, (1 - p) * np.log1p(-np.minimum(p, 1 - 1e-300)), 0.0)
    return float(-2 * samples * np.sum(terms))


# ---------------------------------------------------------------------------------------------
# Plots and CLI


def plot_run(result: SimulationResult, out: Path) -> None:
    from .core import plots

    summary = result.summary()
    g = np.arange(result.generations + 1)
    sizes = np.asarray(result.config["sizes"])
    cfg = result.config

    fig, (ax,) = plots.figure()
    h0 = summary["gini_simpson"]["mean"][0]
    stats = {k: v / h0 for k, v in summary["gini_simpson"].items()}
    plots.band(ax, g, stats, "simulated H_t / H_0",
               prediction_label="Π (1 − 1/M_i)" if "prediction" in stats else None)
    if "prediction" not in stats and len(sizes):
        ax.plot(g, np.concatenate([[1.0], np.cumprod(1 - 1 / sizes)]), "k:", lw=1, label="Π (1 − 1/M_i), pure replace")
    ax.set(xlabel="generation", ylabel="Gini–Simpson H_t / H_0", yscale="log",
           title=f"Diversity decays as (1 − 1/M)^t  (K={cfg['states']}, {cfg['workflow']})")
    ax.legend(fontsize=8)
    plots.save(fig, out / "gini_simpson.png")

    fig, (ax,) = plots.figure()
    plots.band(ax, g, summary["surviving"], "surviving states")
    ax.set(xlabel="generation", ylabel="states with p > 0", title="Surviving states")
    ax.legend(fontsize=8)
    plots.save(fig, out / "surviving.png")

    fig, (ax,) = plots.figure()
    absorbed = result.events["absorbed_at"]
    hit = absorbed[absorbed >= 0]
    if hit.size:
        ax.hist(hit, bins=min(60, max(10, hit.size // 20)), color="C3", alpha=0.8)
        if cfg["schedule"]["kind"] == "constant" and cfg["workflow"] == "replace" and cfg["gamma"] == 0 and cfg["beta"] == 0:
            t_abs = absorption_time_diffusion(np.asarray(cfg["p0"]), cfg["schedule"]["samples"])
            ax.axvline(t_abs, color="k", ls="--", label=f"diffusion mean {t_abs:.0f}")
            ax.legend(fontsize=8)
    ax.set(xlabel="generation of absorption", ylabel="chains",
           title=f"Absorption times ({hit.size} of {absorbed.size} chains absorbed)")
    plots.save(fig, out / "absorption_time.png")

    fig, (ax,) = plots.figure()
    p0 = np.asarray(cfg["p0"])
    order = np.argsort(-p0)
    rank = np.arange(1, p0.size + 1)
    final = result.final["p"][:, order]
    for row in final[: min(20, final.shape[0])]:
        ax.scatter(rank[row > 0], row[row > 0], s=4, color="C0", alpha=0.25)
    ax.plot(rank, final.mean(0), color="C0", lw=1.5, label=f"mean final (gen {result.generations})")
    ax.plot(rank, p0[order], "k-", lw=1.5, label="p_0")
    ax.set(xscale="log", yscale="log", xlabel="state rank under p_0", ylabel="probability",
           title="Tails vanish first: p_0 vs final distributions")
    ax.legend(fontsize=8)
    plots.save(fig, out / "final_distribution.png")


def add_cli(sub) -> None:
    from .cli import add_process_arguments

    p = sub.add_parser("discrete", help="categorical distributions re-estimated from their own samples",
                       description=simulate.__doc__.split("\n\n")[0])
    p.add_argument("--states", type=int, default=100, help="number of states K")
    p.add_argument("--init", default="zipf:1.1", help="uniform | zipf:S | counts:PATH")
    p.add_argument("--tail-quantile", type=float, default=0.1)
    p.add_argument("--record-every", type=int, default=0, help="keep full distributions every k generations")
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    add_process_arguments(p, samples=1000, generations=500, chains=10000)
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from .cli import default_out, process_kwargs, claimed_out

    with claimed_out(default_out("discrete", args.out), args.overwrite, "discrete") as out:
        result = simulate(args.init, states=args.states, tail_quantile=args.tail_quantile,
                          record_every=args.record_every, dtype=args.dtype, **process_kwargs(args))
        path = result.save(out, plot=plot_run)
    print_summary(result)
    print(f"wrote {path}")
    return 0


def print_summary(result: SimulationResult) -> None:
    summary = result.summary()
    g = result.generations
    rows = [g // 4, g // 2, g] if g >= 4 else list(range(g + 1))
    print(f"{result.family}: {result.chains} chains, {g} generations")
    for name, stats in summary.items():
        if name not in ("gini_simpson", "surviving", "tv", "tail_lost", "absorbed"):
            continue
        parts = []
        for t in sorted(set(rows)):
            pred = stats.get("prediction")
            pred_txt = f" (exact {pred[t]:.4g})" if pred is not None else ""
            parts.append(f"t={t}: {stats['mean'][t]:.4g}±{stats['se'][t]:.2g}{pred_txt}")
        print(f"  {name:13s} " + "; ".join(parts))
