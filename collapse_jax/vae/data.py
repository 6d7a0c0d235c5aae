"""The VAE experiment's images: scikit-learn's bundled 8x8 digits, MNIST's IDX files, or an array."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..core.errors import InputError, as_int, require

IDX_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")


def load_digits_images() -> np.ndarray:
    """scikit-learn's 1797 handwritten 8x8 digits, scaled to [0, 1], shape (N, 8, 8) float32."""
    from sklearn.datasets import load_digits  # scikit-learn's import takes a second; only this needs it

    return (load_digits().images / 16.0).astype(np.float32)


def read_idx_images(path: str | Path) -> np.ndarray:
    """Images from one IDX3 file (MNIST's format), scaled to [0, 1], shape (N, rows, cols)."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read image file {path}: {err}") from None
    require(len(raw) >= 16, f"{path} is not an IDX image file: {len(raw)} bytes, shorter than its header")
    magic, n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    require(magic == 0x00000803,
            f"{path} is not an IDX image file: magic number {magic:#010x}, expected 0x00000803 (unsigned bytes, 3-D)")
    require(n > 0 and rows > 0 and cols > 0, f"{path} declares an empty image set ({n} x {rows} x {cols})")
    expected = 16 + n * rows * cols
    require(len(raw) == expected,
            f"{path} is malformed: {n} images of {rows}x{cols} need {expected} bytes, the file has {len(raw)}")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return (images / 255.0).astype(np.float32)


def load_images(dataset: str | Path, limit: int | None = None) -> tuple[np.ndarray, str]:
    """``'digits'`` or a directory holding MNIST's ``train-images-idx3-ubyte`` (``.gz`` accepted)."""
    if isinstance(dataset, str) and dataset == "digits":
        images, name = load_digits_images(), "digits"
    else:
        folder = Path(dataset)
        require(folder.exists(), f"image directory {folder} does not exist (use 'digits' for the bundled data)")
        require(folder.is_dir(), f"{folder} is not a directory; expected a folder holding {IDX_NAMES[0]}")
        candidates = [folder / (n + ext) for n in IDX_NAMES for ext in ("", ".gz")]
        found = [p for p in candidates if p.is_file()]
        require(bool(found), f"no MNIST training images in {folder}: expected one of "
                             f"{', '.join(p.name for p in candidates)}")
        images, name = read_idx_images(found[0]), str(folder)
    return _limited(images, limit), name


def _limited(images: np.ndarray, limit: int | None) -> np.ndarray:
    return images if limit is None else images[: as_int("limit", limit, minimum=1)]


def as_images(dataset: "str | Path | np.ndarray", limit: int | None = None) -> tuple[np.ndarray, str]:
    """(images (N, H, W) float32 in [0, 1] with H and W multiples of 4, their name)."""
    if isinstance(dataset, np.ndarray):
        images, name = np.asarray(dataset, np.float32), f"array{dataset.shape}"
        require(images.ndim == 3 and images.shape[0] > 0, f"images must have shape (N, H, W), got {images.shape}")
        require(bool(np.all(np.isfinite(images))) and images.min() >= 0 and images.max() <= 1,
                "image values must lie in [0, 1]")
        images = _limited(images, limit)
    else:
        images, name = load_images(dataset, limit)
    _, height, width = images.shape
    require(height % 4 == 0 and width % 4 == 0,
            f"image height and width must be multiples of 4 (two stride-2 convolutions), got {height}x{width}")
    return images, name


__all__ = ["IDX_NAMES", "load_digits_images", "read_idx_images", "load_images", "as_images"]
