"""Every CPU core at work: the engine splits the chains over JAX's local devices, and on a CPU JAX
shows a single device unless it is asked for more before it starts.

One device still uses several cores (XLA runs parts of a program on its own thread pool), but one
device per core, each running its own share of the chains' loops, is faster for the engine's
long-lived loops (``benchmarks/README.md``: 1.9–2.1× against 3.0–3.6× numpy for the discrete
chain on 2 cores). Results do not depend on the number of devices (``tests/test_devices.py``), so
this is a speed setting only.
"""

from __future__ import annotations

import os

from .errors import InputError, as_int

# The environment variable the command line reads (``auto``: one device per core; N: N devices).
ENV = "COLLAPSE_JAX_CPU_DEVICES"


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _user_chose() -> bool:
    import jax

    return (jax.config.jax_num_cpu_devices != -1
            or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""))


def use_cpu_cores(devices: "int | str | None" = None) -> int:
    """Ask JAX for ``devices`` CPU devices (``"auto"``: one per core this process may use; ``None``:
    the ``COLLAPSE_JAX_CPU_DEVICES`` environment variable, else ``"auto"``), so that simulations run
    their chains on every core at once. Returns how many CPU devices JAX has (or will have).

    Call it right after ``import collapse_jax``, before any JAX computation::

        import collapse_jax
        collapse_jax.use_cpu_cores()

    It changes nothing (and returns the count JAX keeps) once JAX has started computing, or when
    the count was already chosen (``jax_num_cpu_devices``, or ``XLA_FLAGS`` with
    ``--xla_force_host_platform_device_count``). On a GPU or TPU the engine uses the accelerator's
    devices; the CPU's count does not matter there. The ``collapse-jax`` command does this by
    default for its simulation commands (``--cpu-devices``).
    """
    if devices is None:
        devices = os.environ.get(ENV) or "auto"
    if isinstance(devices, str):
        devices = parse_devices(devices)
    n = cpu_cores() if devices == "auto" else as_int("devices", devices, minimum=1)
    import jax

    if not _user_chose():
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # JAX has started: the count is fixed for this process
            pass
        else:
            return n
    try:
        return len(jax.devices("cpu"))
    except RuntimeError:  # no CPU backend in JAX_PLATFORMS
        return 0


def parse_devices(text: str) -> "int | str":
    """A ``--cpu-devices`` value: ``auto`` or a positive integer."""
    text = str(text).strip().lower()
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"cpu devices must be 'auto' or a positive integer, got {text!r}")
    return value


__all__ = ["use_cpu_cores", "cpu_cores", "parse_devices", "ENV"]
