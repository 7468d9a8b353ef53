"""GpuPool hands out disjoint GPU sets under concurrency; discover_gpus reads nvidia-smi robustly."""

import random
import threading
import time

import pytest

from autotuner.deploy import gpu_pool
from autotuner.deploy.gpu_pool import GpuInfo, GpuPool, PoolCancelled, discover_gpus, parse_gpu_query


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_concurrent_leases_are_disjoint():
    pool = GpuPool([0, 1, 2, 3])
    in_use: set[int] = set()
    lock = threading.Lock()
    overlaps, sizes = [], []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(30):
            n = rng.randint(1, 3)
            with pool.lease(n) as ids:
                with lock:
                    if in_use & set(ids):
                        overlaps.append(ids)
                    in_use.update(ids)
                    sizes.append(len(ids) == n)
                time.sleep(0.001)
                with lock:
                    in_use.difference_update(ids)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert overlaps == [] and all(sizes) and len(sizes) == 180
    assert pool.free == [0, 1, 2, 3]


def test_acquire_blocks_until_another_thread_releases():
    pool = GpuPool([4, 5])
    held = pool.acquire(2)
    assert held == [4, 5] and pool.free == []
    got = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(1)))
    waiter.start()
    time.sleep(0.2)
    assert got == []  # nothing was free
    pool.release([5])
    waiter.join(5)
    assert got == [[5]]
    assert pool.free == []


def test_requests_are_served_in_order():
    pool = GpuPool([0, 1])
    first = pool.acquire(1)
    big = []
    t = threading.Thread(target=lambda: big.append(pool.acquire(2)))
    t.start()
    wait_for(lambda: len(pool._queue) == 1)
    with pytest.raises(TimeoutError, match="no 1 free GPUs"):
        pool.acquire(1, timeout=0.3)  # one GPU is free, but the 2-GPU request came first
    pool.release(first)
    t.join(5)
    assert big == [[0, 1]]


def test_more_gpus_than_the_pool_has_fails_at_once():
    pool = GpuPool([0, 1])
    with pytest.raises(ValueError, match="only 2"):
        pool.acquire(3)
    with pytest.raises(ValueError, match="non-negative"):
        pool.acquire(-1)
    assert pool.acquire(0) == []


def test_cancel_and_timeout_end_the_wait():
    pool = GpuPool([0])
    pool.acquire(1)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(PoolCancelled):
        pool.acquire(1, cancel=cancel)
    with pytest.raises(TimeoutError):
        pool.acquire(1, timeout=0.1)
    assert pool._queue == type(pool._queue)()  # gave-up requests leave the queue


def test_release_checks_its_ids():
    pool = GpuPool([0, 1])
    ids = pool.acquire(1)
    pool.release(ids)
    with pytest.raises(ValueError, match="twice"):
        pool.release(ids)
    with pytest.raises(ValueError, match="not in this pool"):
        pool.release([7])


def test_pool_ids_are_validated():
    with pytest.raises(ValueError, match="distinct"):
        GpuPool([0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        GpuPool([-1])
    assert GpuPool([3, 1]).ids == [3, 1] and GpuPool([3, 1]).total == 2


SAMPLE = """\
0, NVIDIA H100 80GB HBM3, 81559, 1, 0
1, NVIDIA H100 80GB HBM3, 81559, 40213, 97
2, NVIDIA A100-SXM4-40GB, 40960, [N/A], [Not Supported]
garbage line
3, Quadro RTX 6000, Rev. B, 24576, 1025, 5

"""


def test_nvidia_smi_output_is_parsed():
    calls = []
    gpus = discover_gpus(runner=lambda args: calls.append(args) or SAMPLE)
    assert calls[0][0].startswith("--query-gpu=index,name,memory.total,memory.used,utilization.gpu")
    assert [g.index for g in gpus] == [0, 1, 2, 3]
    assert gpus[0] == GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559.0, 1.0, 0.0)
    assert gpus[2].memory_used_mib is None and gpus[2].utilization_pct is None
    assert gpus[3].name == "Quadro RTX 6000, Rev. B"
    assert [g.busy for g in gpus] == [False, True, False, True]
    assert parse_gpu_query("") == []


def test_no_nvidia_smi_means_no_gpus(monkeypatch):
    monkeypatch.setattr(gpu_pool.shutil, "which", lambda name: None)
    assert discover_gpus() == []
    assert discover_gpus(runner=lambda args: None) == []


def test_failing_nvidia_smi_means_no_gpus(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.setattr(gpu_pool.shutil, "which", lambda name: str(fake))
    assert discover_gpus() == []
