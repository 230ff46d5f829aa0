"""Fixtures shared by every test folder."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run the test with one intra-op CPU thread (the test machines are shared 2-core boxes, where
    multi-threaded kernels under load are slower than one thread); restores the count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config):
    """Under pytest-xdist (``-n N``), share the CPU cores among the N worker processes: each
    worker gets ``cores // N`` torch threads (at least one) instead of all of them, so that two
    workers on a 2-core box do not run four threads."""
    import os

    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, cores // int(workers)))
