"""Real time agrees with virtual time: a streaming client against the server vs ``simulate_benchmark``."""

import asyncio
import json
import random
import time

import aiohttp
import pytest

from autotuner.bench.metrics import RequestRecord, summarize
from autotuner.sim.virtual import simulate_benchmark
from autotuner.spec.workload import Workload

from .test_sim_server import health_codes, start, stop

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
INPUT, OUTPUT, USERS, REQUESTS = 256, 32, 4, 24


async def one_request(session: aiohttp.ClientSession, url: str, prompt: str, max_tokens: int) -> RequestRecord:
    record = RequestRecord(start=time.perf_counter(), input_tokens=len(prompt.split()))
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True, "ignore_eos": True}
    async with session.post(f"{url}/v1/completions", json=body) as response:
        assert response.status == 200
        async for raw in response.content:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                break
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["text"]:
                now = time.perf_counter()
                record.first_token = record.first_token or now
                record.token_times.append(now)
            if chunk.get("usage"):
                record.output_tokens = chunk["usage"]["completion_tokens"]
    record.end = time.perf_counter()
    return record


async def closed_loop(url: str) -> list[RequestRecord]:
    rng = random.Random(0)
    records: list[RequestRecord] = []

    async def user(session):
        while len(records) < REQUESTS:
            records.append(None)  # claim a slot before awaiting
            prompt = " ".join(f"w{rng.randrange(10**6)}" for _ in range(INPUT))
            records[records.index(None)] = await one_request(session, url, prompt, OUTPUT)

    async with aiohttp.ClientSession() as session:
        await one_request(session, url, "warm up the connection", 2)
        await asyncio.gather(*(user(session) for _ in range(USERS)))
    return records


@pytest.mark.slow
def test_real_time_server_matches_virtual_time():
    argv = ["--model-path", LLAMA, "--startup-seconds", "0"]
    proc, url = start(argv)
    try:
        health_codes(url, proc)
        records = asyncio.run(closed_loop(url))
    finally:
        stop(proc)
    assert all(r.ok and r.output_tokens == OUTPUT for r in records)
    window = max(r.end for r in records) - min(r.start for r in records)
    real = summarize(records, window)
    workload = Workload(scenarios=[f"D({INPUT},{OUTPUT})"], concurrency=[USERS], num_requests=REQUESTS)
    virtual = simulate_benchmark(argv, workload).levels[0].metrics
    for metric in ("ttft_p50", "tpot_p50"):
        assert real[metric] == pytest.approx(virtual[metric], rel=0.15), (metric, real[metric], virtual[metric])

