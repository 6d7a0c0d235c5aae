"""The GMM experiment's real data: presets (a known mixture each chain draws from) or an array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError, require

# Presets: the true distribution the real data are drawn from (weights, means, covariances).
PRESETS: dict[str, tuple[list[float], list[list[float]], list[list[list[float]]]]] = {
    # The official notebook: make_blobs(centers=[[0, 0]], cluster_std=1), i.e. one 2-D N(0, I) blob.
    "blob": ([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]]),
    # The paper's "two artificially-generated Gaussians" (centres not given; ours are 4 sd apart).
    "two-gaussians": ([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [[[1.0, 0.0], [0.0, 1.0]]] * 2),
}


def as_data(name: str, value: Any) -> np.ndarray:
    """A finite, non-empty (samples, dims) float64 array (a 1-D array is one dimension)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric array, got {type(value).__name__}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    require(arr.ndim == 2 and arr.shape[0] > 0 and arr.shape[1] > 0,
            f"{name} must be a non-empty array of shape (samples, dims), got shape {arr.shape}")
    require(bool(np.all(np.isfinite(arr))), f"{name} contains NaN or infinite values")
    return arr


def load_data(path: str | Path) -> np.ndarray:
    """Real data from a .npy file or a text/CSV file of numbers (one sample per row)."""
    path = Path(path)
    require(path.is_file(), f"data file {path} does not exist")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read data file {path}: {err}") from None
    return as_data(f"data in {path}", arr)


__all__ = ["PRESETS", "as_data", "load_data"]
