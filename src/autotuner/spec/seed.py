"""Import task files of the public inference-autotuner project ("seed" format) into our spec.

Every mapping is reported as a note so users see how their file was read.
"""

from __future__ import annotations

from typing import Any

_STRATEGIES = {"grid_search": "grid", "grid": "grid", "random": "random", "random_search": "random",
               "bayesian": "bayesian"}
_OBJECTIVES = {
    "minimize_latency": ("minimize", "e2e_mean"),
    "maximize_throughput": ("maximize", "output_throughput"),
    "minimize_ttft": ("minimize", "ttft_mean"),
    "minimize_tpot": ("minimize", "tpot_mean"),
}
_DEPLOYMENTS = {"docker": "docker", "ome": "kubernetes", "local": "local"}
SEED_KEYS = {"task_name", "base_runtime", "parameters", "optimization"}


def is_seed_format(data: dict[str, Any]) -> bool:
    return "task_name" in data or "base_runtime" in data or (
        "parameters" in data and "optimization" in data)


def _space(params: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    space: dict[str, Any] = {}
    for flag, spec in (params or {}).items():
        if isinstance(spec, dict) and "values" in spec:
            space[flag] = spec["values"]
            notes.append(f"parameters.{flag} ({spec.get('type', 'choice')}) -> search.space.{flag}")
        elif isinstance(spec, dict) and {"low", "high"} <= spec.keys():
            space[flag] = {k: spec[k] for k in ("low", "high", "step", "log") if k in spec}
            notes.append(f"parameters.{flag} (range) -> search.space.{flag}")
        else:
            space[flag] = spec if isinstance(spec, list) else [spec]
    if space:
        notes.append(f"parameters -> search.space ({len(space)} flags)")
    return space


def _slo(slo: dict[str, Any], notes: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    soft = False

    def threshold(entry: Any) -> float | None:
        nonlocal soft
        if isinstance(entry, dict):
            if not entry.get("hard_fail", False):
                soft = True
            return entry.get("threshold")
        return entry if isinstance(entry, int | float) else None

    for pct, entry in (slo.get("latency") or {}).items():
        t = threshold(entry)
        if t is not None:
            out[f"e2e_{pct}"] = float(t)
            notes.append(f"slo.latency.{pct} -> slo.e2e_{pct} = {t}")
    for key in ("ttft", "tpot"):
        t = threshold(slo.get(key))
        if t is not None:
            out[f"{key}_p90"] = float(t)
            notes.append(f"slo.{key} -> slo.{key}_p90 = {t}")
    if soft or "steepness" in slo:
        notes.append("slo weights, steepness and soft (hard_fail: false) penalties are not used: "
                     "every SLO is a constraint; a configuration that misses one is infeasible")
    return out


def convert_seed(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (our spec as a dict, notes). Validation happens afterwards on the result."""
    notes: list[str] = []
    model = data.get("model") or {}
    bench = data.get("benchmark") or {}
    opt = data.get("optimization") or {}
    out: dict[str, Any] = {"name": data.get("task_name", "seed-task")}
    notes.append(f"task_name -> name = {out['name']!r}")
    if data.get("description"):
        out["description"] = data["description"]
    out["engine"] = data.get("base_runtime", "sglang")
    notes.append(f"base_runtime -> engine = {out['engine']!r}")
    model_id = model.get("id_or_path") if isinstance(model, dict) else model
    out["model"] = {"id": model_id}
    notes.append(f"model.id_or_path -> model.id = {model_id!r}")
    if bench.get("model_name"):
        out["model"]["served_name"] = bench["model_name"]
        notes.append(f"benchmark.model_name -> model.served_name = {bench['model_name']!r}")
    mode = data.get("deployment_mode", "local")
    out["deployment"] = _DEPLOYMENTS.get(mode, mode)
    notes.append(f"deployment_mode {mode!r} -> deployment = {out['deployment']!r}")
    if mode == "ome":
        out["kubernetes"] = {"mode": "ome", "namespace": model.get("namespace", "autotuner")}
    if data.get("runtime_image_tag"):
        out["docker"] = {"image_tag": data["runtime_image_tag"]}
        notes.append(f"runtime_image_tag -> docker.image_tag = {data['runtime_image_tag']!r}")

    strategy = opt.get("strategy", "grid_search")
    search: dict[str, Any] = {"strategy": _STRATEGIES.get(strategy, strategy),
                              "space": _space(data.get("parameters") or {}, notes)}
    notes.append(f"optimization.strategy {strategy!r} -> search.strategy = {search['strategy']!r}")
    if "max_iterations" in opt:
        search["max_experiments"] = opt["max_iterations"]
        notes.append(f"optimization.max_iterations -> search.max_experiments = {opt['max_iterations']}")
    out["search"] = search

    objective = opt.get("objective", "minimize_latency")
    if objective in _OBJECTIVES:
        direction, metric = _OBJECTIVES[objective]
        out["objective"] = {direction: metric}
        notes.append(f"optimization.objective {objective!r} -> objective = {direction} {metric}")
    else:
        out["objective"] = objective  # validation reports it with the allowed names
    if "timeout_per_iteration" in opt:
        out["timeouts"] = {"experiment": opt["timeout_per_iteration"]}
        notes.append(f"optimization.timeout_per_iteration -> timeouts.experiment = {opt['timeout_per_iteration']}")

    workload: dict[str, Any] = {}
    for src, dst in (("traffic_scenarios", "scenarios"), ("num_concurrency", "concurrency"),
                     ("max_requests_per_iteration", "num_requests"), ("max_time_per_iteration", "duration")):
        if src in bench:
            workload[dst] = bench[src]
            notes.append(f"benchmark.{src} -> workload.{dst} = {bench[src]!r}")
    if workload:
        out["workload"] = workload
    for ignored in ("additional_params", "model_tokenizer", "task"):
        if ignored in bench:
            notes.append(f"benchmark.{ignored} is not used (our load generator sends synthetic "
                         f"prompts with usage-based token counts)")
    if data.get("slo"):
        out["slo"] = _slo(data["slo"], notes)
    return out, notes
