"""Terminal output that fits 80 columns with no terminal (a pipe, CI logs): `run`, `bench` and
`engines flags`. No line runs past 80 characters, no header word is split, every quantity carries
one unit (ms for latencies), and the per-level figures are the ones the score is made of."""

from __future__ import annotations

import re

import pytest

from .fake_openai_server import FakeOpenAIServer
from .report_fixtures import cli

WIDTH = 80
FLAGS = ["tp-size", "max-running-requests", "mem-fraction-static", "enable-mixed-chunk"]


def _too_long(text: str) -> list[str]:
    """Lines over the width, but for a label and one file path (a path cannot be folded; its length
    is the test machine's temporary folder)."""
    return [line for line in text.splitlines()
            if len(line) > WIDTH and not re.fullmatch(r"[a-z ]+: /\S+", line)]


def _header_tokens(lines: list[str], first_row: re.Pattern) -> list[str]:
    """The words of a table's header: the lines after its title up to its first data row."""
    out: list[str] = []
    for line in lines[1:]:
        if first_row.match(line):
            break
        out += line.split()
    return out


def test_run_fits_80_columns(demo_run):
    assert _too_long(demo_run.stdout) == []


def test_run_table_headers_are_whole_words_and_abbreviations_have_a_key(demo_run):
    lines = demo_run.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("quickstart: 17 experiments"))
    table = lines[start:]
    header = _header_tokens(table, re.compile(r"\s*1\s+succeeded"))
    at = next(i for i, ln in enumerate(lines) if ln.startswith("columns: "))
    key_text = lines[at]
    for line in lines[at + 1:]:
        if not line.startswith("    "):
            break
        key_text += " " + line.strip()
    key = dict(re.findall(r"(\S+) = ([^,\s]+)", key_text.removeprefix("columns: ")))
    allowed = {"#", "status", "score", "tok/s/GPU", "ttft_p90", "tpot_p90", "ms", "reason", *FLAGS, *key}
    assert header and set(header) <= allowed, header
    assert set(key.values()) <= set(FLAGS)
    for short in key:  # every abbreviated flag is a column, and the key names it in full
        assert short in header


def test_run_table_rows_use_task_numbers_and_short_reasons(demo_run):
    rows = [ln for ln in demo_run.stdout.splitlines() if re.match(r"\s*\d+\s+(succeeded|failed|infeasible)\b", ln)]
    assert [int(r.split()[0]) for r in rows] == list(range(1, 18))
    failed = [r for r in rows if r.split()[1] == "failed"]
    assert failed and all(r.split()[-1] == "oom" for r in failed)
    assert all(r.split()[-1] == "baseline" for r in rows[:1])
    assert "torch.OutOfMemoryError" not in "\n".join(rows)  # the full text is `autotuner show`'s


def test_oom_notes_take_at_most_two_lines(demo_run):
    lines = demo_run.stdout.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"#\d+ failed", line):
            continuation = 0
            for nxt in lines[i + 1:]:
                if not nxt.startswith("    "):
                    break
                continuation += 1
            assert continuation <= 1, lines[i:i + 4]


def test_latencies_on_screen_are_ms_and_the_score_has_its_unit(demo_run):
    out = demo_run.stdout
    level_lines = [ln for ln in out.splitlines() if re.match(r"\s+#\d+ c=\d+:", ln)]
    assert level_lines
    joined = "\n".join(out.splitlines())
    assert re.search(r"ttft_p90 [\d.,]+ ms", joined)
    assert not re.search(r"ttft_p90[ =]+[\d.]+ s\b", joined)  # never seconds on screen
    assert re.search(r"#\d+ succeeded: score [\d.,]+ tok/s/GPU", joined)
    assert re.search(r"output_throughput_per_gpu = [\d.,]+\s+tok/s/GPU", joined)


def test_per_level_figures_are_per_gpu_like_the_score(demo_run):
    """The score of a succeeded experiment is one of its levels' per-GPU figures (best feasible level)."""
    text = "\n".join(demo_run.stdout.splitlines())
    number = r"([\d,]+(?:\.\d+)?)"
    for exp in re.findall(r"#(\d+) succeeded: score", text):
        score = re.search(rf"#{exp} succeeded: score {number} tok/s/GPU", text).group(1)
        per_gpu = re.findall(rf"  #{exp} c=\d+: {number} tok/s/GPU", text)
        assert score in per_gpu, (exp, score, per_gpu)
    two_gpus = re.search(r"  #(\d+) c=\d+: ([\d,]+) tok/s/GPU, total ([\d,]+) tok/s", text)
    assert two_gpus  # the total is printed beside the per-GPU figure


def test_launch_command_is_folded_to_fit_and_still_one_command(demo_run):
    lines = demo_run.stdout.splitlines()
    start = lines.index("launch:")
    command = []
    for line in lines[start + 1:]:
        command.append(line.strip().removesuffix("\\").strip())
        if not line.endswith("\\"):
            break
    joined = " ".join(command)
    assert joined.startswith("python -m sglang.launch_server --model-path meta-llama/Llama-3.2-1B-Instruct")
    assert "--max-running-requests 64" in joined and len(command) > 1


def test_bench_fits_80_columns_with_whole_headers(tmp_path):
    with FakeOpenAIServer(ttft=0.01, itl=0.002) as server:
        done = cli("bench", "--url", server.base_url, "--model", "fake", "--concurrency", "1,4",
                   "--num-requests", "8", "--scenario", "D(64,16)", "--scenario", "D(32,8)", timeout=120)
    assert done.returncode == 0, done.stderr
    assert _too_long(done.stdout) == []
    lines = done.stdout.splitlines()
    table = lines[next(i for i, ln in enumerate(lines) if ln.startswith("benchmark (latencies in ms)")):]
    header = _header_tokens(table, re.compile(r"D\("))
    allowed = {"scenario", "load", "req/s", "out", "tok/s", "TTFT", "TPOT", "ITL", "E2E", "p50", "p90", "success"}
    assert {"load", "TTFT", "p90", "success"} <= set(header) <= allowed, header
    rows = [ln for ln in table if ln.startswith("D(")]
    assert len(rows) == 4 and all("…" not in r for r in rows)  # numbers whole, never cut


def test_engines_flags_fits_80_columns(tmp_path):
    done = cli("engines", "flags", "sglang")
    assert done.returncode == 0, done.stderr
    assert _too_long(done.stdout) == []
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["flag", "type", "choices", "default"]
    assert any(ln.startswith("--tp-size ") for ln in lines)


def test_wider_columns_show_every_column(tmp_path):
    with FakeOpenAIServer(ttft=0.01, itl=0.002) as server:
        done = cli("bench", "--url", server.base_url, "--model", "fake", "--concurrency", "2",
                   "--num-requests", "4", columns=160, timeout=120)
    assert done.returncode == 0, done.stderr
    header = next(ln for ln in done.stdout.splitlines() if ln.startswith("load"))
    assert header.split() == ["load", "req/s", "out", "tok/s", "TTFT", "p50", "TTFT", "p90", "TPOT", "p50",
                              "TPOT", "p90", "ITL", "p90", "E2E", "p90", "success"]
    assert "left out" not in done.stdout


def test_itl_of_tokens_read_together_is_their_shared_gap_not_zero():
    """Why the best once showed ``itl_p50 = 0.0``: under load one network read carries several
    tokens, all stamped with the same time. They share the wait before them instead."""
    from autotuner.bench.metrics import RequestRecord, summarize

    # first token at 0.1 (with a second one in the same read), then 3 tokens at 0.13, 1 at 0.14
    record = RequestRecord(start=0.0, end=0.14, first_token=0.1,
                           token_times=[0.1, 0.1, 0.13, 0.13, 0.13, 0.14], output_tokens=6)
    assert record.itls == pytest.approx([0.01, 0.01, 0.01, 0.01])
    metrics = summarize([record], duration=0.14)
    assert metrics["itl_p50"] == pytest.approx(0.01) and metrics["itl_p50"] > 0
    assert sum(record.itls) == pytest.approx(0.14 - 0.1)


def test_help_of_sim_lists_its_flags_and_engines_flags_names_every_engine():
    sim = cli("sim", "--help")
    assert sim.returncode == 0
    assert "--personality" in sim.stdout and "--mem-fraction-static" in sim.stdout and "--gpu" in sim.stdout
    vllm = cli("sim", "--personality", "vllm", "--help")
    assert "--gpu-memory-utilization" in vllm.stdout and "--mem-fraction-static" not in vllm.stdout
    flags = cli("engines", "flags", "--help")
    assert flags.returncode == 0 and "llamacpp" in flags.stdout
    assert _too_long(flags.stdout) == []


def test_pyproject_license_is_an_spdx_string():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
