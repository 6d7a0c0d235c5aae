"""Closed forms of recursive least squares (docs/THEORY.md §5.1), float64 on the host.

``theory/regression.py`` checks each against simulation with Monte Carlo standard errors.
Notation: d the dimension, T_t the rows of generation t, σ_t its label noise, γ_t its share of
real rows (α_t = 1 − γ_t), N_k = T_0 + … + T_{k−1}, e = ŵ − w*, test error ‖e‖².
"""

from __future__ import annotations

import numpy as np

from ..core.process import Process

PREDICTION_GENERATIONS = 10**6


def fresh_design(process: Process, d: int, sigmas: np.ndarray) -> np.ndarray | None:
    """E ‖e_t‖², t = 0..G, for a fresh isotropic Gaussian design and least squares (λ = 0), or None
    where no closed form is known (accumulate with real rows) or the expectation is infinite
    (a fit of fewer than d + 2 rows).

    Replace: e' = W⁻¹W_a e + W⁻¹Xᵀε with W = XᵀX and W_a the Gram of the a model-labelled rows.
    With X = U D Vᵀ, W⁻¹W_a = V D⁻¹ U_aᵀU_a D Vᵀ; U (Haar), D and V are independent, so
    E[W_a W⁻² W_a] = κ I with κ = [Σ_j E P_jj² + E P_12² · E Σ_{j≠k} s_j²/s_k²]/d, P = U_aᵀU_a:
    E P_jj² = a(a + 2)/(T(T + 2)), E P_12² = a(T − a)/((T − 1)T(T + 2)), and E tr W tr W⁻¹ =
    d(Td − 2)/(T − d − 1) (tr W is independent of W/tr W). Averaged over a ~ Binomial(T, α):
        κ = α[(1 − α)(1 + (T + 1)(d − 1)/(T − d − 1)) + Tα + 2]/(T + 2),
        E‖e_{t+1}‖² = κ_t E‖e_t‖² + σ_t² d/(T_t − d − 1)      (κ = 1 without real rows).
    Accumulate (γ = 0): e_{k+1} = e_k + G_{k+1}⁻¹X_kᵀε_k with G_k the Gram of all N_k rows; by
    exchangeability of the rows E tr(G⁻¹W_k G⁻¹) = (T_k/N_{k+1}) d/(N_{k+1} − d − 1), so
        E‖e_n‖² = Σ_{k<n} σ_k² d T_k / (N_{k+1}(N_{k+1} − d − 1)).
    """
    sizes = process.sizes().astype(np.float64)
    mix = process.mixing.at(0, process.generations, process.generations)
    alpha = mix["alpha"]
    sig2 = np.asarray(sigmas, np.float64) ** 2
    if process.workflow == "replace":
        if np.any(sizes < d + 2):
            return None
        spread = (1 - alpha) * (1 + (sizes + 1) * (d - 1) / (sizes - d - 1))
        kappa = alpha * (spread + sizes * alpha + 2) / (sizes + 2)
        out = np.empty(sizes.size + 1)
        out[0] = e = 0.0
        for t, (k, s2, T) in enumerate(zip(kappa, sig2, sizes)):
            e = k * e + s2 * d / (T - d - 1)
            out[t + 1] = e
        return out
    if process.workflow != "accumulate" or process.mixing.uses("gamma") or (sizes.size and sizes[0] < d + 2):
        return None
    pooled = np.cumsum(sizes)
    return np.concatenate([[0.0], np.cumsum(sig2 * d * sizes / (pooled * (pooled - d - 1)))])


def fixed_design(process: Process, X: np.ndarray, w_star: np.ndarray, ridge: float, sigmas: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(E ‖e_t‖², ‖E e_t‖²), t = 0..G, exactly given the fixed design X (T × d), for replace or
    accumulate, any ridge λ >= 0, any γ_t and σ_t.

    The fit is e = R b − λRw* with R = (G + λI)⁻¹, G = W = XᵀX (replace) or t W (accumulate after t
    generations), and b the generation's (or the pool's) Xᵀr. A generation adds n = W_a e + Xᵀε,
    where W_a = Σ_i a_i x_i x_iᵀ over rows labelled by the model (a_i ~ Bernoulli(α)):
    E n = αW E e, E nnᵀ = α² W S W + α(1 − α) Xᵀ diag(X S Xᵀ) X + σ² W with S = E eeᵀ.
    The mean and second moment of b then follow linear recursions (O(T d² + d³) a generation)."""
    X = np.asarray(X, np.float64)
    w = np.asarray(w_star, np.float64)
    d = X.shape[1]
    W = X.T @ X
    eye = np.eye(d)
    mix = process.mixing.at(0, process.generations, process.generations)
    mu, B = np.zeros(d), np.zeros((d, d))  # E b, E bbᵀ
    R, f = np.zeros((d, d)), np.zeros(d)  # generation 0's model is w* itself: e = 0
    sq, bias = [0.0], [0.0]
    for t, (a, s2) in enumerate(zip(mix["alpha"], np.asarray(sigmas, np.float64) ** 2)):
        mean_e = R @ mu - f
        S = R @ B @ R - np.outer(R @ mu, f) - np.outer(f, R @ mu) + np.outer(f, f)
        mean_n = a * W @ mean_e
        spread = np.einsum("ti,ij,tj->t", X, S, X)  # x_iᵀ S x_i per row
        nn = a * a * W @ S @ W + a * (1 - a) * (X.T * spread) @ X + s2 * W
        if process.workflow == "replace":
            mu, B = mean_n, nn
            G = W
        else:
            be = B @ R - np.outer(mu, f)  # E b eᵀ
            cross = a * be @ W  # E b nᵀ
            mu, B = mu + mean_n, B + cross + cross.T + nn
            G = (t + 1) * W
        R = np.linalg.inv(G + ridge * eye)
        f = ridge * R @ w
        mean_e = R @ mu - f
        S = R @ B @ R - np.outer(R @ mu, f) - np.outer(f, R @ mu) + np.outer(f, f)
        sq.append(float(np.trace(S)))
        bias.append(float(mean_e @ mean_e))
    return np.asarray(sq), np.asarray(bias)


def replace_linear(t: np.ndarray, d: int, samples: int, noise: float) -> np.ndarray:
    """Gerstgrasser et al.'s replace growth n σ² d/(T − d − 1) (fresh or reused isotropic design)."""
    return np.asarray(t, np.float64) * noise**2 * d / (samples - d - 1)


def accumulate_bound(d: int, samples: int, noise: float) -> float:
    """σ² d/(T − d − 1) · π²/6: the limit of accumulate with a reused design, above every fresh one."""
    return noise**2 * d / (samples - d - 1) * np.pi**2 / 6


def predictions(process: Process, d: int, sigmas: np.ndarray, *, ridge: float = 0.0, X: np.ndarray | None = None,
                w_star: np.ndarray | None = None, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact E test_error at ``rows`` where a closed form exists: a fixed design (given X: replace or
    accumulate, any λ, γ_t, σ_t) or a fresh design with λ = 0 (see :func:`fresh_design`)."""
    G = process.generations
    rows = np.arange(G + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    if G > PREDICTION_GENERATIONS or process.workflow == "accumulate-subsample" or process.mixing.uses("beta"):
        return {}
    if X is not None:
        if ridge == 0 and np.linalg.matrix_rank(X) < d:
            return {}
        return {"test_error": fixed_design(process, X, w_star, ridge, sigmas)[0][rows]}
    if ridge != 0:
        return {}
    curve = fresh_design(process, d, sigmas)
    return {} if curve is None else {"test_error": curve[rows]}


__all__ = ["fresh_design", "fixed_design", "replace_linear", "accumulate_bound", "predictions",
           "PREDICTION_GENERATIONS"]
