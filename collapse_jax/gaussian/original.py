"""The original data distribution D_0 of the Gaussian family: a Gaussian, a Student-t, a mixture
or a data array, with its first two moments (the metrics measure distances to its Gaussian fit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..core.errors import InputError, as_float, choice, require

ORIGINALS = ("gaussian", "student-t", "mixture", "data")
SYMMETRY_TOL = 1e-8


@dataclass(frozen=True)
class Original:
    """The original data distribution D_0.

    - ``gaussian``: N(mean0, cov0).
    - ``student-t``: multivariate Student-t with ``df`` > 2 degrees of freedom, location mean0 and
      *covariance* cov0 (scale matrix cov0·(df−2)/df).
    - ``mixture``: Σ_k w_k N(means_k, covs_k).
    - ``data``: the empirical distribution of the rows of ``data`` (drawn with replacement).

    ``mean`` and ``cov`` are D_0's true first two moments: the metrics measure distances to
    N(mean, cov), D_0's Gaussian fit.
    """

    kind: str
    mean: np.ndarray
    cov: np.ndarray
    df: float | None = None
    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covs: np.ndarray | None = None
    data: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def describe(self) -> str:
        if self.kind == "student-t":
            return f"student-t:{self.df:g}"
        if self.kind == "mixture":
            return f"mixture({len(self.weights)} components)"
        if self.kind == "data":
            return f"data({self.data.shape[0]} points)"
        return "gaussian"

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "mean": self.mean.tolist(), "cov": self.cov.tolist()}
        if self.df is not None:
            out["df"] = self.df
        if self.weights is not None:
            out.update(weights=self.weights.tolist(), means=self.means.tolist(), covs=self.covs.tolist())
        if self.data is not None:
            out["data_points"] = int(self.data.shape[0])
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """What a kernel needs to draw from D_0 (passed as parameters, not baked into the program)."""
        if self.kind == "gaussian":
            return {"chol": np.linalg.cholesky(self.cov)}
        if self.kind == "student-t":
            return {"chol": np.linalg.cholesky(self.cov * (self.df - 2.0) / self.df)}
        if self.kind == "mixture":
            return {"log_weights": np.log(self.weights), "means": self.means, "chols": np.linalg.cholesky(self.covs)}
        return {"data": self.data}


def draw_original(kind: str, df: float | None, arrays, mean, key, n: int, dtype) -> jax.Array:
    """n points (n, d) of D_0 from :meth:`Original.arrays` (pure; the kernels call it per chain)."""
    if kind == "data":
        data = jnp.asarray(arrays["data"], dtype)
        return data[jax.random.randint(key, (n,), 0, data.shape[0])]
    if kind == "mixture":
        means = jnp.asarray(arrays["means"], dtype)
        chols = jnp.asarray(arrays["chols"], dtype)
        kc, kz = jax.random.split(key)
        comp = jax.random.categorical(kc, jnp.asarray(arrays["log_weights"], dtype), shape=(n,))
        z = jax.random.normal(kz, (n, means.shape[1]), dtype)
        return means[comp] + jnp.einsum("nij,nj->ni", chols[comp], z)
    chol = jnp.asarray(arrays["chol"], dtype)
    d = chol.shape[0]
    if kind == "gaussian":
        return mean + jax.random.normal(key, (n, d), dtype) @ chol.T
    kz, kw = jax.random.split(key)  # student-t: a Gaussian over the square root of a scaled chi-square
    z = jax.random.normal(kz, (n, d), dtype)
    w = jax.random.chisquare(kw, df, (n,), dtype) / df
    return mean + (z @ chol.T) / jnp.sqrt(w)[:, None]


def _check_cov(name: str, cov: np.ndarray, d: int) -> np.ndarray:
    require(cov.shape == (d, d), f"{name} must have shape ({d}, {d}) to match the mean, got {cov.shape}")
    require(bool(np.all(np.isfinite(cov))), f"{name} contains NaN or infinite entries")
    scale = max(float(np.max(np.abs(cov))), 1e-300)
    asym = float(np.max(np.abs(cov - cov.T)))
    require(asym <= SYMMETRY_TOL * scale,
            f"{name} is not symmetric (max |C - C^T| = {asym:.3g}, relative {asym / scale:.3g})")
    cov = 0.5 * (cov + cov.T)
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(cov)
        raise InputError(f"{name} is not positive definite (smallest eigenvalue {eig[0]:.3g})") from None
    return cov


def _as_mean_cov(mean0: Any, cov0: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        mean = np.asarray(mean0, dtype=np.float64)
        cov = np.asarray(cov0, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"mean0 and cov0 must be numeric arrays, got {mean0!r} and {cov0!r}") from None
    if mean.ndim == 0:
        mean = mean.reshape(1)
    require(mean.ndim == 1 and mean.size >= 1, f"mean0 must be a vector (d,), got shape {mean.shape}")
    require(bool(np.all(np.isfinite(mean))), "mean0 contains NaN or infinite entries")
    d = mean.shape[0]
    if cov.ndim == 0:  # a variance: sigma^2 I
        require(bool(np.isfinite(cov)) and float(cov) > 0,
                f"cov0 given as a scalar variance must be finite and > 0, got {float(cov)!r}")
        cov = float(cov) * np.eye(d)
    return mean, _check_cov("cov0", cov, d)


def make_original(original: "str | Original | None", mean0: Any, cov0: Any) -> Original:
    """Resolve D_0 from a name (``'gaussian'``, ``'student-t:5'``, ``'mixture:SEP'``) or an
    :class:`Original`; for ``'data'`` use :func:`data_original`."""
    if isinstance(original, Original):
        require(mean0 is None and cov0 is None, "give mean0/cov0 or an Original object, not both")
        return original
    if original is None:
        original = "gaussian"
    require(isinstance(original, str), f"original must be a name or an Original, got {original!r}")
    kind, _, arg = original.partition(":")
    choice("original distribution", kind, ORIGINALS)
    if kind == "data":
        raise InputError("original 'data' needs an array: use gaussian.data_original(array) "
                         "(CLI: --original data:PATH.npy)")
    require(mean0 is not None and cov0 is not None, "mean0 and cov0 are required")
    mean, cov = _as_mean_cov(mean0, cov0)
    if kind == "gaussian":
        require(not arg, f"original 'gaussian' takes no parameter, got {original!r}")
        return Original("gaussian", mean, cov)
    if kind == "student-t":
        require(bool(arg), "original 'student-t' needs degrees of freedom, e.g. 'student-t:5'")
        df = as_float("student-t degrees of freedom", arg)
        require(df > 2, f"student-t degrees of freedom must be > 2 (finite covariance), got {df}")
        return Original("student-t", mean, cov, df=df)
    # mixture:SEP -> equal mixture of N(mean -+ SEP/2 e_1, cov0)
    sep = as_float("mixture separation", arg if arg else "3")
    shift = np.zeros_like(mean)
    shift[0] = sep / 2
    return mixture_original([0.5, 0.5], [mean - shift, mean + shift], [cov, cov])


def mixture_original(weights: Sequence[float], means: Any, covs: Any) -> Original:
    """D_0 = Σ_k w_k N(means_k, covs_k)."""
    try:
        w = np.asarray(weights, dtype=np.float64)
        mu = np.asarray(means, dtype=np.float64)
        cs = np.asarray(covs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("mixture weights, means and covs must be numeric arrays") from None
    require(w.ndim == 1 and w.size >= 1, f"mixture weights must be a vector, got shape {w.shape}")
    require(bool(np.all(np.isfinite(w))) and bool(np.all(w > 0)), "mixture weights must be finite and > 0")
    require(abs(w.sum() - 1) < 1e-9, f"mixture weights must sum to 1, got {w.sum()}")
    require(mu.ndim == 2 and mu.shape[0] == w.size,
            f"mixture means must have shape ({w.size}, d), got {mu.shape}")
    require(bool(np.all(np.isfinite(mu))), "mixture means contain NaN or infinite entries")
    d = mu.shape[1]
    require(cs.shape == (w.size, d, d), f"mixture covs must have shape ({w.size}, {d}, {d}), got {cs.shape}")
    cs = np.stack([_check_cov(f"mixture cov {k}", c, d) for k, c in enumerate(cs)])
    mean = w @ mu
    dev = mu - mean
    cov = np.einsum("k,kij->ij", w, cs) + np.einsum("k,ki,kj->ij", w, dev, dev)
    return Original("mixture", mean, cov, weights=w, means=mu, covs=cs)


def data_original(data: Any) -> Original:
    """D_0 = the empirical distribution of the rows of ``data`` (n, d); its covariance (ddof 0) must
    be positive definite."""
    try:
        x = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("original data must be a numeric array (n, d)") from None
    if x.ndim == 1:
        x = x[:, None]
    require(x.ndim == 2 and x.shape[0] >= 2, f"original data must have shape (n >= 2, d), got {x.shape}")
    require(bool(np.all(np.isfinite(x))), "original data contain NaN or infinite values")
    mean = x.mean(axis=0)
    cov = (x - mean).T @ (x - mean) / x.shape[0]
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise InputError(f"original data are degenerate: their {x.shape[1]}x{x.shape[1]} covariance is "
                         "singular (fewer than d + 1 points in general position)") from None
    return Original("data", mean, cov, data=x)


__all__ = ["Original", "make_original", "mixture_original", "data_original", "draw_original", "ORIGINALS"]
