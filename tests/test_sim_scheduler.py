"""The simulated schedulers step by step: continuous batching, KV pressure, prefix caching, policies."""

import pytest

from autotuner.sim.engine import SimEngine
from autotuner.sim.kvcache import KVPool
from autotuner.sim.scheduler import Request
from autotuner.sim.tokens import synthetic_block_hashes

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SGLANG = ["--model-path", LLAMA]
VLLM = ["--personality", "vllm", LLAMA]


def scheduler(argv):
    return SimEngine.from_argv(argv).replicas[0]


def request(rid, prompt, out, prefix=0, key="p", block=16):
    return Request(rid, prompt, out, 0.0, synthetic_block_hashes(rid, prompt, prefix, key, block))


def drain(sched, now=0.0, max_steps=100_000):
    """Run until idle; returns {id: (first token time, finish time)} and the steps taken."""
    first, done, steps = {}, {}, []
    while not sched.idle and len(steps) < max_steps:
        result = sched.step(now)
        now += result.duration
        steps.append(result)
        for rid in result.first_tokens:
            first[rid] = now
        for rid in result.finished:
            done[rid] = now
    return first, done, steps, now


@pytest.mark.parametrize("argv", [SGLANG, VLLM])
def test_a_new_request_joins_a_running_batch(argv):
    sched = scheduler(argv)
    sched.add(request("long", 100, 200))
    now = 0.0
    for _ in range(20):  # prefill, then decodes
        now += sched.step(now).duration
    sched.add(request("late", 100, 5))
    first, done, _, _ = drain(sched, now)
    assert done["late"] < done["long"]  # it did not wait for the running request to finish
    assert first["late"] - now < 0.05


@pytest.mark.parametrize("argv", [SGLANG, VLLM])
def test_every_token_is_emitted_once_in_order(argv):
    sched = scheduler(argv)
    for i in range(5):
        sched.add(request(f"r{i}", 50 + i, 7 + i))
    seen = {}
    while not sched.idle:
        for rid, index in sched.step(0.0).emitted:
            assert index == seen.get(rid, -1) + 1
            seen[rid] = index
    assert seen == {f"r{i}": 6 + i for i in range(5)}
    assert sched.pool.active == 0  # all KV released


def test_sglang_prefill_runs_before_decode_and_mixed_chunk_merges_them():
    plain = scheduler(SGLANG)
    plain.add(request("a", 64, 50))
    plain.step(0.0)
    plain.add(request("b", 4000, 5))
    result = plain.step(0.0)
    assert result.prefill_tokens == 4000 and result.decode_batch == 0  # "a" stalls

    mixed = scheduler(SGLANG + ["--enable-mixed-chunk"])
    mixed.add(request("a", 64, 50))
    mixed.step(0.0)
    mixed.add(request("b", 4000, 5))
    result = mixed.step(0.0)
    assert result.prefill_tokens == 4000 and result.decode_batch == 1


@pytest.mark.parametrize("argv, budget", [(SGLANG + ["--chunked-prefill-size", "1024"], 1024),
                                          (VLLM + ["--max-num-batched-tokens", "1024"], 1024)])
def test_long_prompts_are_prefilled_in_chunks(argv, budget):
    sched = scheduler(argv)
    sched.add(request("big", 3000, 2))
    sizes = []
    while True:
        result = sched.step(0.0)
        sizes.append(result.prefill_tokens)
        if result.first_tokens:
            break
    assert sizes == [budget, budget, 3000 - 2 * budget]


def test_vllm_without_chunked_prefill_admits_whole_prompts_only():
    sched = scheduler(VLLM + ["--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096",
                              "--max-model-len", "4096"])
    sched.add(request("a", 3000, 2))
    sched.add(request("b", 3000, 2))
    assert sched.step(0.0).prefill_tokens == 3000  # "b" does not fit the rest of the budget, and waits
    assert sched.step(0.0).prefill_tokens == 3000


@pytest.mark.parametrize("argv", [SGLANG + ["--max-running-requests", "2"], VLLM + ["--max-num-seqs", "2"]])
def test_running_requests_are_capped(argv):
    sched = scheduler(argv)
    for i in range(5):
        sched.add(request(f"r{i}", 32, 20))
    peak = 0
    while not sched.idle:
        sched.step(0.0)
        peak = max(peak, sched.num_running)
    assert peak == 2


@pytest.mark.parametrize("argv", [SGLANG + ["--max-total-tokens", "3000", "--schedule-conservativeness", "0.1",
                                            "--context-length", "2048"],
                                  VLLM + ["--max-model-len", "2048"]])
def test_kv_exhaustion_preempts_and_every_request_still_completes(argv):
    sched = scheduler(argv)
    if sched.cfg.personality == "vllm":
        sched.pool.capacity = 3008  # a small cache: 188 blocks of 16
    for i in range(6):
        sched.add(request(f"r{i}", 200, 800))
    _, done, steps, _ = drain(sched)
    assert sched.stats.preemptions > 0
    assert sum(s.preempted for s in steps) == sched.stats.preemptions
    assert sorted(done) == [f"r{i}" for i in range(6)]
    assert sched.stats.generation_tokens == 6 * 800
    assert sched.pool.active == 0


def test_prefix_cache_skips_the_shared_prompt_blocks():
    sched = scheduler(SGLANG)
    sched.add(request("a", 2100, 2, prefix=2000))
    drain(sched)
    sched.add(request("b", 2100, 2, prefix=2000))
    result = sched.step(0.0)
    assert result.prefill_tokens == 2100 - 2000  # 125 cached blocks of 16
    assert sched.stats.cache_hits == 2000

    off = scheduler(SGLANG + ["--disable-radix-cache"])
    off.add(request("a", 2100, 2, prefix=2000))
    drain(off)
    off.add(request("b", 2100, 2, prefix=2000))
    assert off.step(0.0).prefill_tokens == 2100 and off.stats.cache_hits == 0


def test_concurrent_requests_share_blocks_as_soon_as_they_are_computed():
    sched = scheduler(VLLM + ["--max-num-batched-tokens", "1024"])
    sched.add(request("a", 1500, 3, prefix=1024))
    sched.step(0.0)  # the first 1024 tokens of "a"
    sched.add(request("b", 1500, 3, prefix=1024))
    drain(sched)
    assert sched.stats.cache_hits == 1024


def test_sglang_lpm_admits_the_longest_cached_prefix_first():
    def first_admitted(policy):
        sched = scheduler(SGLANG + ["--schedule-policy", policy, "--max-running-requests", "1"])
        sched.add(request("warm", 1100, 1, prefix=1024, key="X"))
        drain(sched)
        sched.add(request("cold", 1100, 1, prefix=1024, key="Y"))
        sched.add(request("hot", 1100, 1, prefix=1024, key="X"))
        return sched.step(0.0).first_tokens

    assert first_admitted("fcfs") == ["cold"]
    assert first_admitted("lpm") == ["hot"]


def test_sglang_lof_admits_the_longest_output_first():
    sched = scheduler(SGLANG + ["--schedule-policy", "lof", "--max-running-requests", "1"])
    sched.add(request("short", 10, 1))
    sched.add(request("long", 10, 50))
    sched.step(0.0)
    assert [r.id for r in sched.running] == ["long"]


def test_abort_frees_the_requests_kv():
    sched = scheduler(VLLM)
    sched.add(request("a", 500, 100))
    sched.add(request("b", 500, 100))
    sched.step(0.0)
    assert sched.abort("a") and not sched.abort("nope")
    assert [r.id for r in sched.running] == ["b"]
    assert sched.abort("b") and sched.idle and sched.pool.active == 0


def test_kv_pool_evicts_least_recently_used_unpinned_blocks():
    pool = KVPool(64, block_size=16)
    assert pool.allocate(32)
    pool.publish("a0")
    pool.publish("a1")
    pool.unpin(["a0", "a1"])  # reusable, a1 (the deeper block) evicted first
    assert pool.available == 64 and pool.free == 32 and pool.active == 0
    assert pool.allocate(48)
    assert pool.match(["a0", "a1"]) == 1
    assert not pool.allocate(32)
