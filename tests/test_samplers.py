"""The exact samplers against slow, obviously-right references (scipy pmfs, enumeration, a
float64 re-implementation fed the same uniforms), every rare path forced by lowering its threshold,
and the addressability of every lane. Chains split over several devices: tests/test_discrete.py
and tests/test_devices.py (the engine's shard_map)."""

import importlib
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from collapse_jax import samplers
binomial_mod = importlib.import_module("collapse_jax.samplers.binomial")
hg_mod = importlib.import_module("collapse_jax.samplers.hypergeometric")
from collapse_jax.samplers.threefry import bits_to_unit, fine_unit, threefry2x32

P_MIN = 1e-4  # every law test: fail below this p-value (fixed seeds, so the suite is deterministic)


def chi2_pvalue(draws, pmf_of):
    """Goodness of fit of integer draws to a pmf, pooling cells with expected count < 5."""
    draws = np.asarray(draws)
    values, observed = np.unique(draws, return_counts=True)
    support = np.arange(values.min(), values.max() + 1)
    obs = np.zeros(support.size)
    obs[values - values.min()] = observed
    exp = pmf_of(support) * draws.size
    keep = exp >= 5
    # pool everything else (both tails, and mass outside the observed range) into one cell
    rest_obs = draws.size - obs[keep].sum()
    rest_exp = draws.size - exp[keep].sum()
    o = np.append(obs[keep], rest_obs)
    e = np.append(exp[keep], rest_exp)
    mask = e > 0
    chi2 = np.sum((o[mask] - e[mask]) ** 2 / e[mask])
    return stats.chi2.sf(chi2, mask.sum() - 1)


def outcome_chi2_pvalue(counts, outcomes, pmf):
    """Goodness of fit of count vectors to an exact law enumerated over every possible outcome."""
    index = {c: i for i, c in enumerate(outcomes)}
    observed = np.bincount([index[tuple(c)] for c in counts], minlength=len(outcomes))
    expected = np.array([pmf(c) for c in outcomes]) * counts.shape[0]
    chi2 = np.sum((observed - expected) ** 2 / expected)
    return stats.chi2.sf(chi2, len(outcomes) - 1)


def _keys(chains, seed=0, first=0):
    root = jax.random.key(seed)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(root, jnp.arange(first, first + chains))


def _z(sample, mean, var):
    return (np.mean(sample) - mean) / np.sqrt(var / np.size(sample))


# ---------------------------------------------------------------------------------------------
# Threefry, binomial


def test_threefry_known_answers():
    # Random123's known-answer vectors for Threefry-2x32 with 20 rounds.
    cases = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
             ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
             ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for (k0, k1), (x0, x1), expected in cases:
        y = samplers.threefry2x32(np.uint32(k0), np.uint32(k1), np.uint32(x0), np.uint32(x1))
        assert (int(y[0]), int(y[1])) == expected


@pytest.mark.parametrize("n,p", [(20, 0.3), (37, 0.9), (1000, 0.5), (5000, 0.002), (100000, 1e-4),
                                 (30, 0.33), (250, 0.07), (12, 0.5), (60, 0.25), (41, 0.5)])
def test_binomial_law(n, p):
    draws = np.asarray(samplers.binomial(jax.random.key(n), n, p, shape=(100_000,)))
    assert draws.min() >= 0 and draws.max() <= n
    assert chi2_pvalue(draws, lambda k: stats.binom.pmf(k, n, p)) > P_MIN


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binomial_degenerate_parameters_are_exact(dtype):
    with jax.enable_x64(dtype == "float64"):
        key = jax.random.key(0)
        n = jnp.array([0, 10, 10, 7, 2**31 - 1, 0, 2**31 - 1, 5])
        p = jnp.array([0.3, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, float("nan")], dtype)
        assert np.array_equal(samplers.binomial(key, n, p), [0, 0, 10, 7, 0, 0, 2**31 - 1, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binomial_keyed_law_and_addressability(dtype):
    """One draw per lane under the lane's own key (the Poisson family's real-data count): exact
    law, degenerate lanes exact, and a lane's draw the same alone as in a batch."""
    with jax.enable_x64(dtype == "float64"):
        lanes = 40_000
        keys = _keys(lanes, 12)
        n, p = 60, 0.3
        draws = np.asarray(samplers.binomial_keyed(keys, jnp.full(lanes, n), jnp.full(lanes, p, dtype)))
        assert chi2_pvalue(draws, lambda k: stats.binom.pmf(k, n, p)) > P_MIN
        one = np.asarray(samplers.binomial_keyed(keys[777:778], jnp.full(1, n), jnp.full(1, p, dtype)))
        assert one[0] == draws[777]
        edge = np.asarray(samplers.binomial_keyed(keys[:4], jnp.asarray([0, 9, 9, 2**31 - 1]),
                                                  jnp.asarray([0.4, 0.0, 1.0, 1.0], dtype)))
        assert edge.tolist() == [0, 0, 9, 2**31 - 1]


def test_binomial_huge_n_moments():
    # n = 10^9 > 2^24: counts are integers, not float32-rounded; moments match.
    n, p = 10**9, 0.37
    draws = np.asarray(samplers.binomial(jax.random.key(3), n, p, shape=(50_000,)), dtype=np.float64)
    assert np.all(draws <= n) and np.all(draws == np.rint(draws))
    mean, var = n * p, n * p * (1 - p)
    assert abs(draws.mean() - mean) / np.sqrt(var / draws.size) < 4
    assert abs(draws.var() / var - 1) < 4 * np.sqrt(2 / draws.size)
    # not confined to a float32 grid: odd and even counts alike
    assert 0.45 < np.mean(draws % 2) < 0.55


def test_binomial_at_the_largest_n_in_float64():
    n, p = 2**31 - 1, 0.37
    with jax.enable_x64(True):
        draws = np.asarray(samplers.binomial(jax.random.key(11), n, p, shape=(100_000,)))
    assert draws.dtype == np.int64 and np.all((draws >= 0) & (draws <= n))
    # chi-square on cells of 2000 integers (~0.09 sd) around the mean, exact cdf differences
    sd = np.sqrt(n * p * (1 - p))
    edges = np.round(n * p + np.arange(-5 * sd, 5 * sd, 2000)).astype(np.int64)
    cells = np.searchsorted(edges, draws, side="right")
    observed = np.bincount(cells, minlength=edges.size + 1)
    cdf = stats.binom.cdf(edges - 1, n, p)
    expected = np.diff(np.concatenate([[0.0], cdf, [1.0]])) * draws.size
    keep = expected >= 5
    o = np.append(observed[keep], observed[~keep].sum())
    e = np.append(expected[keep], expected[~keep].sum())
    assert stats.chi2.sf(np.sum((o - e) ** 2 / e), keep.sum()) > P_MIN


def test_log_binomial_pmf_is_accurate_in_float32():
    k = np.array([0, 1, 5, 500, 4999, 5000, 50_000_123])
    n = np.array([10, 10, 10, 1000, 10000, 10000, 10**8])
    p = np.array([0.3, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5])
    got = np.asarray(samplers.log_binomial_pmf(jnp.asarray(k, jnp.float32), jnp.asarray(n, jnp.float32),
                                               jnp.asarray(p, jnp.float32)))
    ref = stats.binom.logpmf(k, n, p)
    assert np.allclose(got, ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-5), ("float64", 2e-9)])
def test_binomial_log_ratio_against_scipy(dtype, tol):
    """log f(k) − log f(m) with m near the mean (as BTRS and the hypergeometric use it), k anywhere
    from a few sd away to the edges of the support; error relative to max(1, |ratio|).

    For n·p beyond float32's 2^24 the mode's offset m − np is rounded to the spacing of n·p; that
    rounding is the same for every k, so the computed law is exactly Bin(n, p') for a p' within that
    rounding of p (an exponential tilt by δ·ε): the float32 tolerance adds |δ|·ulp(np)/(npq)."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 2, 3, 10, 57, 1000, 10**6, 2**31 - 1):
        for p in (1e-3, 0.1, 0.37, 0.5):  # the samplers call it with p ≤ 1/2
            sd = np.sqrt(n * p * (1 - p))
            for _ in range(8):
                m = int(np.clip(np.floor((n + 1) * p) + rng.integers(-1, 2), 0, n))
                k = int(np.clip(round(n * p + rng.normal() * 4 * sd), 0, n))
                rows.append((n, p, k, m))
            rows += [(n, p, 0, int(np.floor((n + 1) * p))), (n, p, n, int(np.floor((n + 1) * p)))]
    n, p, k, m = map(np.array, zip(*rows))
    with jax.enable_x64(dtype == "float64"):
        idt = jnp.int64 if dtype == "float64" else jnp.int32
        pj = jnp.asarray(p, dtype)
        got = np.asarray(jax.jit(samplers.binom_log_ratio)(jnp.asarray(k, idt), jnp.asarray(m, idt), jnp.asarray(n, idt), pj))
        p_used = np.asarray(pj, np.float64)
    ref = stats.binom.logpmf(k, n, p_used) - stats.binom.logpmf(m, n, p_used)
    allowed = tol * np.maximum(1.0, np.abs(ref))
    # scipy's own logpmf loses ~1e-6 absolute at n ~ 2^31 (lgamma of 1e10-sized arguments)
    allowed += np.where(n > 10**7, 2e-5 * np.maximum(1.0, np.abs(ref)), 0.0)
    if dtype == "float32":
        npq = n * p_used * (1 - p_used)
        ulp = np.where(n * p_used >= 2**24, 2.0 ** (np.floor(np.log2(np.maximum(n * p_used, 1))) - 23), 0.0)
        allowed += 2 * np.abs(k - m) * ulp / np.maximum(npq, 1e-30)
    bad = np.abs(got - ref) > allowed
    assert not bad.any(), [rows[i] for i in np.flatnonzero(bad)[:5]]


# ---------------------------------------------------------------------------------------------
# The binomial trip against a float64 reference fed the same uniforms


def _trip_draws(n, p, tuning, dtype="float32", lanes=20_000, seed=5):
    """Run binomial trips until every lane accepts; returns (draws, attempts used)."""
    with jax.enable_x64(dtype == "float64"):
        idt = jnp.int64 if dtype == "float64" else jnp.int32
        node = jnp.arange(lanes, dtype=jnp.uint32)
        k0 = jnp.full(lanes, seed, jnp.uint32)
        k1 = jnp.full(lanes, 12345, jnp.uint32)
        nn = jnp.full(lanes, n, idt)
        s = binomial_mod.signed_p(jnp.full(lanes, p, dtype))
        return _until_accepted(jax.jit(lambda a, act: binomial_mod.binomial_trip(nn, s, k0, k1, node, a, act, tuning)),
                               lanes)


def _until_accepted(trip, lanes):
    """Call ``trip(attempt, active)`` until every lane has a count, each rejected lane retrying
    with its next attempt (what the samplers' while-loops do); returns (counts, attempts used)."""
    x = np.full(lanes, -1, np.int64)
    attempt = np.zeros(lanes, np.uint32)
    while (x < 0).any():
        active = x < 0
        got = np.asarray(trip(jnp.asarray(attempt), jnp.asarray(active)))
        x = np.where(active & (got >= 0), got, x)
        attempt = np.where(active & (got < 0), attempt + 1, attempt).astype(np.uint32)
    return x, attempt


def _reference(n, p, lanes=20_000, seed=5, tuning=samplers.DEFAULT, dtype="float32"):
    """The same draws by an obviously-right float64 implementation with scipy's pmf: inversion
    (smallest x with F(x) ≥ u) for small means, BTRS with the exact acceptance ratio otherwise,
    consuming the lane's Threefry stream attempt by attempt."""
    node = np.arange(lanes, dtype=np.uint32)
    flip = p > 0.5
    pp = 1 - p if flip else p
    out = np.empty(lanes, np.int64)
    with jax.enable_x64(dtype == "float64"):
        fdt = jnp.float64 if dtype == "float64" else jnp.float32
        pp_used = float(np.asarray(jnp.abs(binomial_mod.signed_p(jnp.asarray(p, fdt)))))

        def uniforms(attempt):
            y0, y1 = threefry2x32(np.uint32(seed), np.uint32(12345), node, np.uint32(attempt))
            return (np.asarray(fine_unit(y0, y1, fdt), np.float64), np.asarray(bits_to_unit(y0, fdt), np.float64),
                    np.asarray(bits_to_unit(y1, fdt), np.float64))

        if n * pp_used <= tuning.inv_mean:
            u = uniforms(0)[0]
            out = np.searchsorted(stats.binom.cdf(np.arange(n + 1), n, pp_used), u, side="left")
        else:
            spq = np.sqrt(n * pp_used * (1 - pp_used))
            b = 1.15 + 2.53 * spq
            a = -0.0873 + 0.0248 * b + 0.01 * pp_used
            c = n * pp_used + 0.5
            v_r = 0.92 - 4.2 / b
            alpha = (2.83 + 5.1 / b) * spq
            m = np.floor((n + 1) * pp_used)
            todo = np.ones(lanes, bool)
            attempt = 0
            while todo.any():
                _, u, v = uniforms(attempt)
                us = 0.5 - np.abs(u - 0.5)
                k = np.floor((2 * a / us + b) * (u - 0.5) + c)
                ok = (k >= 0) & (k <= n)
                fast = (us >= 0.07) & (v <= v_r)
                kk = np.clip(k, 0, n)
                lhs = np.log(v * alpha / (a / us**2 + b))
                acc = ok & (fast | (lhs <= stats.binom.logpmf(kk, n, pp_used) - stats.binom.logpmf(m, n, pp_used)))
                take = todo & acc
                out[take] = kk[take]
                todo &= ~acc
                attempt += 1
    return n - out if flip else out


@pytest.mark.parametrize("n,p,dtype", [(1000, 0.004, "float32"), (40, 0.2, "float32"), (1000, 0.05, "float32"),
                                       (100, 0.5, "float32"), (10**6, 0.3, "float32"), (33, 0.97, "float32"),
                                       (10**6, 0.3, "float64"), (1000, 0.05, "float64")])
def test_binomial_trip_equals_float64_reference_lane_by_lane(n, p, dtype):
    """Same Threefry stream, same decisions: the fused kernel equals the reference on every lane
    but float rounding ties, including lanes whose BTRS proposals were rejected and retried.

    In float32 the proposal's centre np + ½ is rounded to the spacing of n·p (the kernel works in
    the offset from the mode); a centre off by ε moves the proposal on a fraction ε of lanes (a
    different but equally exact proposal), so that fraction is allowed on top of the ties."""
    x, attempts = _trip_draws(n, p, samplers.DEFAULT, dtype)
    ref = _reference(n, p, dtype=dtype)
    p_used = float(np.asarray(jnp.abs(binomial_mod.signed_p(jnp.asarray(p, jnp.float32 if dtype == "float32" else None)))))
    centre_err = abs(float(np.float32(n) * np.float32(p_used)) - n * p_used) if dtype == "float32" else 0.0
    assert np.mean(x == ref) > 0.999 - 2 * centre_err
    if n * min(p, 1 - p) > samplers.DEFAULT.inv_mean:
        assert (attempts >= 2).sum() > 50  # retries really happened and were followed exactly
        assert np.mean(x[attempts >= 1] == ref[attempts >= 1]) > 0.999 - 2 * centre_err


@pytest.mark.parametrize("n,p", [(200, 0.04), (1000, 0.009), (30, 0.3), (25, 0.8)])
def test_forced_inversion_tail(n, p):
    """With 4 fused terms most lanes continue the search in the tail loop (same u): the law is
    still exact, and equal to the default tuning's draws lane by lane."""
    short = samplers.Tuning(inv_terms=4)
    x, _ = _trip_draws(n, p, short, lanes=100_000)
    mu = n * min(p, 1 - p)
    forced = stats.binom.sf(3, n, min(p, 1 - p))
    assert forced > 0.4 or mu < 4  # most lanes took the rare path
    assert chi2_pvalue(x, lambda k: stats.binom.pmf(k, n, p)) > P_MIN
    y, _ = _trip_draws(n, p, samplers.DEFAULT, lanes=100_000)
    assert np.mean(x == y) > 0.9999


@pytest.mark.parametrize("n,p", [(1000, 0.011), (500, 0.04), (60, 0.5), (10**5, 0.2)])
def test_btrs_down_to_its_lowest_mean(n, p):
    """inv_mean lowered to 10 (BTRS's own limit) and a single attempt per trip: BTRS serves means
    from 11 up, with 20-25% of proposals rejected and retried in later trips."""
    tuning = samplers.Tuning(inv_mean=10.0)
    x, attempts = _trip_draws(n, p, tuning, lanes=100_000)
    assert np.mean(attempts > 0) > 0.1
    assert chi2_pvalue(x, lambda k: stats.binom.pmf(k, n, p)) > P_MIN


def test_attempt_cap_ends_every_loop():
    """The cap that bounds the loops (never reached by valid input) really ends them: with a cap of
    one attempt every lane finishes in one trip with a count in [0, n]."""
    x, attempts = _trip_draws(1000, 0.3, samplers.Tuning(max_attempts=1), lanes=5000)
    assert attempts.max() == 0 and x.min() >= 0 and x.max() <= 1000


# ---------------------------------------------------------------------------------------------
# Multinomial


def test_multinomial_one_step_law_by_enumeration():
    p = np.array([0.5, 0.3, 0.2])
    m = 4
    counts = np.asarray(samplers.multinomial(_keys(60_000), m, jnp.broadcast_to(jnp.asarray(p, jnp.float32), (60_000, 3))))
    assert np.all(counts.sum(1) == m)
    outcomes = [c for c in itertools.product(range(m + 1), repeat=3) if sum(c) == m]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multinomial.pmf(c, m, p)) > P_MIN


@pytest.mark.parametrize("tuning", [samplers.DEFAULT, samplers.Tuning(compaction=2, min_buffer=1, inv_terms=3),
                                    samplers.Tuning(scan_over_categories=False)])
def test_multinomial_KC_law_with_a_dead_category_by_enumeration(tuning):
    """K=4, M=8 with a zero category (skipped by the lanes), in the default tuning, with every rare
    path forced (compaction to half-size buffers, 3 fused inversion terms) and with the
    accelerators' associative per-generation pass."""
    p = np.array([0.23, 0.0, 0.45, 0.32])
    m, chains = 8, 50_000
    counts = np.asarray(samplers.multinomial_KC(_keys(chains, 2), m, jnp.broadcast_to(jnp.asarray(p[:, None], jnp.float32), (4, chains)),
                                                tuning)).T
    assert np.all(counts.sum(1) == m) and np.all(counts[:, 1] == 0)
    outcomes = [c for c in itertools.product(range(m + 1), repeat=4) if sum(c) == m and c[1] == 0]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multinomial.pmf(c, m, p)) > P_MIN


def test_compaction_and_tail_paths_do_not_change_any_draw():
    """Compaction moves lanes between buffers, the conds skip an algorithm no lane of the trip
    needs, the tail loop redoes a search: none may change what a chain draws. Same keys: identical
    counts with and without compaction or the skipping conds; with 2 fused inversion terms instead
    of 48 only float-rounding ties between the two summations may differ."""
    rng = np.random.default_rng(3)
    K, C = 30, 600
    p = jnp.asarray(rng.dirichlet(np.full(K, 0.3), size=C).T * (rng.random((K, C)) > 0.3), jnp.float32)
    keys = _keys(C, 9)
    base = np.asarray(samplers.multinomial_KC(keys, 500, p, samplers.Tuning(compaction=1)))
    for tuning in (samplers.DEFAULT, samplers.Tuning(compaction=3, min_buffer=1), samplers.Tuning(compaction=16, min_buffer=1),
                   samplers.Tuning(inv_cond=True, btrs_cond=True)):
        assert np.array_equal(np.asarray(samplers.multinomial_KC(keys, 500, p, tuning)), base)
    short = np.asarray(samplers.multinomial_KC(keys, 500, p, samplers.Tuning(compaction=8, min_buffer=1, inv_terms=2)))
    assert np.mean(np.all(short == base, axis=0)) > 0.99


def test_sequential_and_associative_passes_agree():
    """The backend switch (multinomial.sequential_over_categories), both sides run on the CPU: the
    next-alive codes, first categories and alive counts are identical, the mass after each
    category agrees to float rounding, and so do the draws (identical but for rounding ties)."""
    mm = importlib.import_module("collapse_jax.samplers.multinomial")
    rng = np.random.default_rng(0)
    K, C = 30, 500
    p = rng.dirichlet(np.full(K, 0.3), size=C).T * (rng.random((K, C)) > 0.4)
    p[:, 0] = 0
    p[np.arange(K) != 5, 1] = 0
    p = jnp.asarray(p, jnp.float32)
    seq = mm.alive_pass(p, samplers.Tuning(scan_over_categories=True))
    par = mm.alive_pass(p, samplers.Tuning(scan_over_categories=False))
    for a, b in zip(seq[1:], par[1:]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(seq[0]), np.asarray(par[0]), rtol=K * 2**-23, atol=0)
    keys = _keys(C, 3)
    x = np.asarray(samplers.multinomial_KC(keys, 1000, p, samplers.Tuning(scan_over_categories=True)))
    y = np.asarray(samplers.multinomial_KC(keys, 1000, p, samplers.Tuning(scan_over_categories=False)))
    assert np.mean(np.all(x == y, axis=0)) > 0.99


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multinomial_KC_degenerate_inputs_are_exact(dtype):
    with jax.enable_x64(dtype == "float64"):
        p = jnp.asarray(np.array([
            [1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0],  # one alive category
            [0.5, 0.5, 0, 0],  # n = 0 below
            [0, 0, 0, 0],  # no mass: zero counts
            [-1, np.nan, np.inf, 2],  # negative / non-finite entries count as zero mass
            [1e-30, 0, 0, 1],
        ], dtype=np.float64).T, dtype)
        n = jnp.asarray([7, 2**31 - 1, 1, 0, 5, 9, 3])
        counts = np.asarray(samplers.multinomial_KC(_keys(7), n, p)).T
        assert counts[0].tolist() == [7, 0, 0, 0]
        assert counts[1].tolist() == [0, 0, 0, 2**31 - 1]
        assert counts[2].tolist() == [0, 1, 0, 0]
        assert counts[3].tolist() == [0, 0, 0, 0] and counts[4].tolist() == [0, 0, 0, 0]
        assert counts[5].tolist() == [0, 0, 0, 9]
        assert counts[6].sum() == 3 and counts[6][1] == counts[6][2] == 0


def test_multinomial_rows_are_addressable_and_collapsed_rows_stay():
    p = jnp.asarray(np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]] * 8, np.float32))
    big = np.asarray(samplers.multinomial(_keys(16), 1000, p))
    small = np.asarray(samplers.multinomial(_keys(4), 1000, p[:4]))
    assert np.array_equal(big[:4], small)
    assert np.all(big[::2] == [1000, 0, 0, 0])  # an absorbed chain neither hangs nor moves


@pytest.mark.parametrize("m", [100, 10**4])
def test_multinomial_KC_columns_depend_on_their_own_key_alone(m):
    """A chain's counts are the same alone, in a batch of 100 or 1000, and at any position."""
    rng = np.random.default_rng(1)
    K = 25
    p = rng.dirichlet(np.ones(K), size=1000).T.astype(np.float32)
    keys = _keys(1000, 4)
    big = np.asarray(samplers.multinomial_KC(keys, m, p))
    small = np.asarray(samplers.multinomial_KC(keys[:100], m, p[:, :100]))
    assert np.array_equal(big[:, :100], small)
    perm = rng.permutation(1000)
    shuffled = np.asarray(samplers.multinomial_KC(keys[perm], m, p[:, perm]))
    assert np.array_equal(shuffled, big[:, perm])
    one = np.asarray(samplers.multinomial_KC(keys[517:518], m, p[:, 517:518]))
    assert np.array_equal(one[:, 0], big[:, 517])


def _marginal_and_covariance_z(counts, n, p):
    """z-scores of every marginal mean and every pairwise covariance against the multinomial's."""
    counts = counts.astype(np.float64)
    rows = counts.shape[0]
    zs = [_z(counts[:, i], n * p[i], n * p[i] * (1 - p[i])) for i in range(p.size) if 0 < p[i] < 1]
    dev = counts - n * p
    for i, j in itertools.combinations(np.flatnonzero(p > 0), 2):
        prod = dev[:, i] * dev[:, j]
        zs.append((prod.mean() + n * p[i] * p[j]) / (prod.std(ddof=1) / np.sqrt(rows)))
    return np.abs(np.asarray(zs))


@pytest.mark.parametrize("k,n,alive", [(10, 100, 10), (100, 1000, 25), (5, 10**6, 5)])
def test_multinomial_marginals_and_covariances(k, n, alive):
    """Every marginal mean and pairwise covariance within the statistics of 30k draws: the largest
    |z| of the q tests must stay below the two-sided 1e-4/q Bonferroni quantile."""
    rng = np.random.default_rng(k)
    p = np.zeros(k)
    p[rng.choice(k, alive, replace=False)] = rng.dirichlet(np.ones(alive))
    rows = 30_000
    counts = np.asarray(samplers.multinomial_KC(_keys(rows, 5), n, jnp.broadcast_to(jnp.asarray(p[:, None], jnp.float32), (k, rows)))).T
    assert np.all(counts.sum(1) == n)
    z = _marginal_and_covariance_z(counts, n, p.astype(np.float32).astype(np.float64) / p.astype(np.float32).sum())
    assert z.max() < stats.norm.isf(P_MIN / (2 * z.size))


@pytest.mark.slow
def test_multinomial_at_the_largest_n_in_float64():
    n, k, rows = 2**31 - 1, 5, 20_000
    p = np.array([0.4, 0.3, 0.2, 0.0999, 0.0001])
    with jax.enable_x64(True):
        counts = np.asarray(samplers.multinomial_KC(_keys(rows, 8), n, jnp.broadcast_to(jnp.asarray(p[:, None]), (k, rows)))).T
    assert counts.dtype == np.int64 and np.all(counts.sum(1) == n)
    z = _marginal_and_covariance_z(counts, n, p)
    assert z.max() < stats.norm.isf(P_MIN / (2 * z.size))


def test_multinomial_two_stage_path_marginals_and_covariance():
    # K > 16 with a skewed law: every marginal must be Binomial(n, p_k) and categories far apart
    # must keep the multinomial covariance -n p_i p_j.
    k, n, rows = 23, 50, 40_000
    p = np.arange(1, k + 1, dtype=np.float64) ** -1.1
    p /= p.sum()
    counts = np.asarray(samplers.multinomial(_keys(rows, 5), n, jnp.broadcast_to(jnp.asarray(p, jnp.float32), (rows, k))))
    assert np.all(counts.sum(1) == n)
    for i in (0, 6, 11, 22):
        assert chi2_pvalue(counts[:, i], lambda x: stats.binom.pmf(x, n, p[i])) > P_MIN
    i, j = 0, 13
    prod = (counts[:, i] - n * p[i]) * (counts[:, j] - n * p[j])
    z = (prod.mean() + n * p[i] * p[j]) / (prod.std(ddof=1) / np.sqrt(rows))
    assert abs(z) < 4


# ---------------------------------------------------------------------------------------------
# Hypergeometric


def test_ratio_of_uniforms_hat_covers_the_hypergeometric():
    """The exactness condition of Stadlober's ratio-of-uniforms, checked by brute force: for every
    x of the support, f(x)/f(m) ≤ h² / (4 max_{t∈[x,x+1)} (t − a)²), with the sampler's own
    mode m, centre a and width h, over a grid of (reduced) parameters."""
    bad = []
    for total in (2, 3, 5, 8, 13, 40, 101, 1000):
        for marked in sorted({1, 2, total // 3, total // 2}):
            for draws in sorted({1, 2, total // 4, total // 2}):
                if not (1 <= marked <= total - marked and 1 <= draws <= total - draws):
                    continue
                x = np.arange(0, min(draws, marked) + 1)
                f = stats.hypergeom.pmf(x, total, marked, draws)
                m = int(np.asarray(hg_mod.hypergeometric_mode(jnp.int32(draws), jnp.int32(marked), jnp.int32(total))))
                assert np.isclose(f[m], f.max(), rtol=1e-12, atol=0)
                mean = draws * marked / total
                var = (total - draws) / (total - 1) * mean * (1 - marked / total)
                a = mean + 0.5
                h = hg_mod._D1 * np.sqrt(var + 0.5) + hg_mod._D2
                far = np.maximum(np.abs(x - a), np.abs(x + 1 - a))
                bound = np.where(far > 0, h**2 / (4 * far**2), np.inf)
                if np.any(f / f[m] > bound * (1 + 1e-12)):
                    bad.append((total, marked, draws))
    assert not bad


@pytest.mark.parametrize("draws,good,bad", [(300, 900, 2100), (10, 3, 20), (1000, 20, 1980), (700, 20, 980),
                                            (50, 1000, 1000), (5000, 123456, 7654321), (1, 1, 1), (9, 10, 2)])
def test_hypergeometric_trip_law(draws, good, bad):
    lanes = 100_000
    node = jnp.arange(lanes, dtype=jnp.uint32)
    trip = jax.jit(lambda a, act: hg_mod.hypergeometric_trip(jnp.full(lanes, draws), jnp.full(lanes, good), jnp.full(lanes, bad),
                                                             node * 0 + 5, node * 0 + 9, node, a, act))
    x, _ = _until_accepted(trip, lanes)
    assert chi2_pvalue(x, lambda k: stats.hypergeom.pmf(k, good + bad, good, draws)) > P_MIN


def test_multivariate_hypergeometric_one_step_law():
    pool = np.array([3, 2, 4])
    n = 4
    counts = np.asarray(samplers.multivariate_hypergeometric(_keys(40_000, 1), n, jnp.broadcast_to(jnp.asarray(pool), (40_000, 3))))
    assert np.all(counts.sum(1) == n) and np.all(counts <= pool)
    outcomes = [c for c in itertools.product(*(range(k + 1) for k in pool)) if sum(c) == n]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multivariate_hypergeom.pmf(c, pool, n)) > P_MIN


@pytest.mark.parametrize("tuning", [samplers.DEFAULT, samplers.Tuning(compaction=2, min_buffer=1)])
def test_multivariate_hypergeometric_KC_law_with_empty_categories(tuning):
    pool = np.array([2, 0, 3, 1, 0, 2])
    n, chains = 5, 50_000
    counts = np.asarray(samplers.multivariate_hypergeometric_KC(_keys(chains, 6), n, jnp.broadcast_to(jnp.asarray(pool[:, None]), (6, chains)),
                                                                tuning=tuning)).T
    assert np.all(counts.sum(1) == n) and np.all(counts <= pool)
    outcomes = [c for c in itertools.product(*(range(k + 1) for k in pool)) if sum(c) == n]
    assert outcome_chi2_pvalue(counts, outcomes, lambda c: stats.multivariate_hypergeom.pmf(c, pool, n)) > P_MIN


def test_hypergeometric_marginal_law_large_pool():
    # Two categories: the first count is Hypergeometric(draws=300 from 900 good + 2100 bad).
    pool = jnp.broadcast_to(jnp.array([900, 2100]), (50_000, 2))
    counts = np.asarray(samplers.multivariate_hypergeometric(_keys(50_000, 2), 300, pool))[:, 0]
    assert chi2_pvalue(counts, lambda k: stats.hypergeom.pmf(k, 3000, 900, 300)) > P_MIN


def test_multivariate_hypergeometric_degenerate_and_addressable():
    pool = jnp.asarray(np.array([[5, 0, 0], [0, 0, 7], [2, 3, 4], [2, 3, 4], [1, 1, 1]]).T)
    n = jnp.asarray([5, 3, 9, 0, 2])
    counts = np.asarray(samplers.multivariate_hypergeometric_KC(_keys(5), n, pool)).T
    assert counts[0].tolist() == [5, 0, 0] and counts[1].tolist() == [0, 0, 3]
    assert counts[2].tolist() == [2, 3, 4] and counts[3].tolist() == [0, 0, 0] and counts[4].sum() == 2
    rng = np.random.default_rng(2)
    big_pool = jnp.asarray(rng.integers(0, 40, (12, 300)))
    keys = _keys(300, 7)
    big = np.asarray(samplers.multivariate_hypergeometric_KC(keys, 100, big_pool))
    small = np.asarray(samplers.multivariate_hypergeometric_KC(keys[:30], 100, big_pool[:, :30]))
    assert np.array_equal(big[:, :30], small)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniforms_never_reach_either_end(dtype):
    # the extreme words: with 24 bits in float32 the top word rounded to u = 1 exactly, and BTRS
    # divides by 0.5 - |u - 0.5|
    with jax.enable_x64(dtype == "float64"):
        words = jnp.asarray([0, 1, 2**31, 2**32 - 2, 2**32 - 1], jnp.uint32)
        fdt = jnp.float64 if dtype == "float64" else jnp.float32
        for u in (bits_to_unit(words, fdt), fine_unit(words, words, fdt)):
            u = np.asarray(u, np.float64)
            assert u.dtype == np.float64 and np.all(u > 0) and np.all(u < 1), u
            assert np.all(np.diff(u) >= 0)  # monotone in the word
