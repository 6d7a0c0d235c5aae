"""Test-process settings."""

import os

# The command line splits the CPU into one JAX device per core unless told otherwise; in this
# process that would depend on which test ran first (the count is fixed when JAX starts), so the
# suite keeps JAX's single CPU device. tests/test_devices.py runs sharded chains in subprocesses.
os.environ.setdefault("COLLAPSE_JAX_CPU_DEVICES", "1")
