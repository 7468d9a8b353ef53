"""aiconfigurator's own estimate for a batch of configurations; runs inside ``.venv-aic`` (never imports autotuner).

    .venv-aic/bin/python benchmarks/aic_worker.py < requests.json > answers.jsonl

stdin: a JSON list of requests, each ``{"id", "model_path", "system", "backend", "backend_version"
(or null: its database's current one), "isl", "osl", "batch_size", "tp_size", "attention_dp_size",
"moe_tp_size", "moe_ep_size", "gemm_quant_mode", "moe_quant_mode"}`` (a quant mode null = inferred
from the model's config). stdout: one JSON line per request, in order: ``{"id", "ttft_ms", "tpot_ms",
"tokens_per_s", "backend_version"}`` or ``{"id", "error"}``. aiconfigurator's own prints go to stderr.

aiconfigurator 0.12 re-reads hundreds of metadata YAML files on every ``cli_estimate`` (4-5 s a call
on this machine, 0.2 s without); the loader below parses each file once, with libyaml when present.
Estimates are unchanged by it (it returns a fresh copy of the same parsed data).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys

import yaml

_parsed: dict[tuple, object] = {}
_plain_load = yaml.load
_fast_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_once(stream, Loader=None):
    name = getattr(stream, "name", None)
    key = None
    if isinstance(name, str) and os.path.isfile(name):
        st = os.stat(name)
        key = (name, st.st_size, st.st_mtime_ns)
        if key in _parsed:
            return copy.deepcopy(_parsed[key])
    data = _plain_load(stream, Loader=_fast_loader if Loader in (None, yaml.SafeLoader) else Loader)
    if key is not None:
        _parsed[key] = copy.deepcopy(data)
    return data


def _safe_load_once(stream):
    return _load_once(stream, yaml.SafeLoader)


def estimate(request: dict) -> dict:
    from aiconfigurator.cli.api import cli_estimate

    result = cli_estimate(
        request["model_path"], request["system"], mode="agg", backend_name=request["backend"],
        backend_version=request.get("backend_version"), isl=request["isl"], osl=request["osl"],
        batch_size=request["batch_size"], tp_size=request["tp_size"],
        attention_dp_size=request["attention_dp_size"], moe_tp_size=request.get("moe_tp_size"),
        moe_ep_size=request.get("moe_ep_size"), gemm_quant_mode=request.get("gemm_quant_mode"),
        moe_quant_mode=request.get("moe_quant_mode"))
    return {"id": request["id"], "ttft_ms": float(result.ttft), "tpot_ms": float(result.tpot),
            "tokens_per_s": float(result.tokens_per_second), "backend_version": str(result.backend_version)}


def main() -> int:
    requests = json.load(sys.stdin)
    out = sys.stdout
    yaml.load, yaml.safe_load = _load_once, _safe_load_once
    logging.disable(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an unbundled id fails at once instead of waiting on a hub
    for request in requests:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                answer = estimate(request)
        except Exception as e:  # aiconfigurator raises many kinds; each means "cannot estimate this row"
            text = (str(e).strip().splitlines() or [""])[0].split(" at /")[0]  # the reason, not its data path
            answer = {"id": request.get("id"), "error": f"{type(e).__name__}: {text}"[:160]}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
