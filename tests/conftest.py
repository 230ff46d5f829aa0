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
