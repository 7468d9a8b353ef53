"""Hostile and malformed task files: each must be refused (exit 2, the field named) before anything runs.

Shared by tests/test_hostile_inputs.py and benchmarks/hostile_inputs.py. Each case: (name, file bytes,
a word the refusal must contain)."""

from __future__ import annotations

import json

BASE = """name: hostile
model: meta-llama/Llama-3.2-1B-Instruct
engine: sglang
gpus: 1
search:
  strategy: random
  max_experiments: 4
  space:
    max-running-requests: [8, 16]
objective: {maximize: output_throughput}
workload: {scenarios: ["D(64,16)"], concurrency: [4], num_requests: 8}
"""


def _with(old: str, new: str) -> bytes:
    assert old in BASE
    return BASE.replace(old, new).encode()


def _laughs() -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return (BASE + "docker:\n  " + "\n  ".join(lines) + "\n").encode()


def _grid(points_per_axis: int, axes: int) -> bytes:
    space = "".join(f"    flag-{i}: [{', '.join(str(v) for v in range(points_per_axis))}]\n" for i in range(axes))
    return _with("    max-running-requests: [8, 16]\n", space)


CASES: list[tuple[str, bytes, str]] = [
    ("billion laughs in docker:", _laughs(), "alias"),
    ("grid of 10^20 points", _with("strategy: random", "strategy: grid").replace(
        b"    max-running-requests: [8, 16]\n", _grid(10, 20).split(b"space:\n")[1].split(b"objective")[0]), "space"),
    ("gpus: 100000000", _with("gpus: 1", "gpus: 100000000"), "gpus"),
    ("max_experiments: 10^12", _with("max_experiments: 4", "max_experiments: 1000000000000"), "max_experiments"),
    ("concurrency 10^9", _with("concurrency: [4]", "concurrency: [1000000000]"), "concurrency"),
    ("num_requests 10^12", _with("num_requests: 8", "num_requests: 1000000000000"), "num_requests"),
    ("JSON nested 5000 deep", ("[" * 5000 + "]" * 5000).encode(), "deep"),
    ("YAML nested 5000 deep", (BASE + "docker: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "deep"),
    ("non-UTF-8 bytes", BASE.encode() + b"description: \xff\xfe\xfa\n", "UTF-8"),
    ("duplicate key", (BASE + "gpus: 2\n").encode(), "given twice"),
    ("port in fixed_args", (BASE + "fixed_args: {port: 8000}\n").encode(), "port"),
    ("host in the space", _with("    max-running-requests: [8, 16]\n", "    host: [0.0.0.0]\n"), "host"),
    ("negative flag value", (BASE + "fixed_args: {max-running-requests: -5}\n").encode(), "max-running-requests"),
    ("docker privileged", (BASE + "deployment: docker\ndocker: {privileged: true}\n").encode(), "privileged"),
    ("docker hf_cache /", (BASE + "deployment: docker\ndocker: {hf_cache: /}\n").encode(), "hf_cache"),
    ("unreadable dataset", (BASE.replace("num_requests: 8}", "num_requests: 8, dataset: /nonexistent/x.jsonl}")
                            ).encode(), "dataset"),
    ("file over 1 MB", (BASE + "description: " + "x" * 1_200_000 + "\n").encode(), "limit"),
    ("not a mapping", b"- just\n- a list\n", "mapping"),
    ("unknown engine", _with("engine: sglang", "engine: tensorflow-serving"), "engine"),
    ("unknown field", (BASE + "gpu_count: 4\n").encode(), "gpu_count"),
    ("empty space axis", _with("max-running-requests: [8, 16]", "max-running-requests: []"), "max-running-requests"),
    ("inverted range", _with("max-running-requests: [8, 16]", "max-running-requests: {low: 64, high: 8}"),
     "max-running-requests"),
    ("infinite range", _with("max-running-requests: [8, 16]", "mem-fraction-static: {low: 0.5, high: .inf}"),
     "mem-fraction-static"),
    ("bad scenario", _with('scenarios: ["D(64,16)"]', 'scenarios: ["Q(64)"]'), "scenario"),
    ("negative concurrency", _with("concurrency: [4]", "concurrency: [-4]"), "concurrency"),
    ("typo in flag", _with("max-running-requests: [8, 16]", "max-runing-requests: [8, 16]"), "max-runing-requests"),
    ("bad objective metric", _with("maximize: output_throughput", "maximize: happiness"), "objective"),
    ("name with a slash", _with("name: hostile", "name: ../../etc"), "name"),
    ("YAML tag for python object", (BASE + "description: !!python/object/apply:os.system ['true']\n").encode(),
     "constructor"),
    ("empty file", b"", "mapping"),
    ("JSON with duplicate keys", json.dumps({"name": "x"})[:-1].encode() + b', "name": "y"}', "given twice"),
    ("docker volumes", (BASE + "deployment: docker\ndocker: {volumes: ['/:/host']}\n").encode(), "volumes"),
    ("docker hf_cache /etc", (BASE + "deployment: docker\ndocker: {hf_cache: /etc}\n").encode(), "hf_cache"),
    ("port in the space", _with("    max-running-requests: [8, 16]\n", "    port: [8000, 8001]\n"), "port"),
    ("JSON not UTF-8", b'{"name": "\xff\xfe"}', "UTF-8"),
    ("gpus: 0", _with("gpus: 1", "gpus: 0"), "gpus"),
]
