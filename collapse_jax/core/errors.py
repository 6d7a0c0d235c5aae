"""One error type for bad input, so the CLI can turn it into a clean message and exit code 2."""

from __future__ import annotations

import math
from typing import Any


class InputError(ValueError):
    """A user-supplied value is invalid. The message names the value and what was expected."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


def as_int(name: str, value: Any, minimum: int | None = None) -> int:
    """An integer option (bools and non-integral floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__index__"):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"{name} must be an integer, got {value!r}")
    ivalue = int(value)
    if minimum is not None and ivalue < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {ivalue}")
    return ivalue


def as_float(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite real option within optional closed bounds."""
    try:
        fvalue = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(fvalue):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and fvalue < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {fvalue}")
    if maximum is not None and fvalue > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {fvalue}")
    return fvalue


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise InputError(f"unknown {name} {value!r}; expected one of {', '.join(options)}")
    return value
