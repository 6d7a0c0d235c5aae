"""A persistent compilation cache, on by default, so the second run of a shape starts in seconds.

XLA compiles each kernel once per shape; the compiled program is stored in the user's cache
directory (``$COLLAPSE_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/collapse-jax/jax``, else
``~/.cache/collapse-jax/jax``). ``COLLAPSE_JAX_CACHE=0`` switches it off. A cache directory the
user configured in JAX themselves is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

_OFF = ("0", "off", "false", "no")
_state: dict[str, str | None] = {}


def cache_dir() -> Path | None:
    """Where compiled programs are kept, or None when the cache is switched off."""
    if os.environ.get("COLLAPSE_JAX_CACHE", "1").strip().lower() in _OFF:
        return None
    explicit = os.environ.get("COLLAPSE_JAX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "collapse-jax" / "jax"


def enable_compilation_cache() -> str | None:
    """Turn the cache on (once per process); returns the directory in use, or None."""
    if "dir" in _state:
        return _state["dir"]
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:  # the user's own choice
        _state["dir"] = current
        return current
    path = cache_dir()
    if path is None:
        _state["dir"] = None
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable home: run uncached rather than fail
        _state["dir"] = None
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Cache everything that took a noticeable time to compile; tiny programs recompile faster than
    # they load.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _state["dir"] = str(path)
    return str(path)


__all__ = ["enable_compilation_cache", "cache_dir"]
