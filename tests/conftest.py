"""Shared by every test: the models here are tiny, so one thread. A second one gains nothing and, on a busy
machine, its synchronisation made the sampling tests ~20x slower (measured: 20 s against 1 s on 2 shared cores)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
