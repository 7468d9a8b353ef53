"""Import task files of the public inference-autotuner project ("seed" format) into our spec.

Every mapping is reported as a note so users see how their file was read. The names the format
uses for OME objects and presets are resolved in ``seed_resolve``.
"""

from __future__ import annotations

from typing import Any

from . import seed_resolve as resolve
from .errors import SpecError
from .seed_cluster import ClusterCatalog, connect

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
_READ_KEYS = {"task_name", "description", "model", "base_runtime", "deployment_mode", "runtime_image_tag",
              "parameters", "optimization", "benchmark", "slo", "quant_config", "parallel_config",
              "clusterbasemodel_config", "clusterservingruntime_config", "storage"}


def is_seed_format(data: dict[str, Any]) -> bool:
    return "task_name" in data or "base_runtime" in data or (
        "parameters" in data and "optimization" in data)


def _space(params: dict[str, Any], engine: str, notes: list[str]) -> dict[str, Any]:
    space: dict[str, Any] = {}
    for name, spec in (params or {}).items():
        flag = resolve.flag_name(name, engine)
        if isinstance(spec, dict) and "values" in spec:
            space[flag] = spec["values"]
            notes.append(f"parameters.{name} ({spec.get('type', 'choice')}) -> search.space.{flag}")
        elif isinstance(spec, dict) and {"low", "high"} <= spec.keys():
            space[flag] = {k: spec[k] for k in ("low", "high", "step", "log") if k in spec}
            notes.append(f"parameters.{name} (range) -> search.space.{flag}")
        else:
            space[flag] = spec if isinstance(spec, list) else [spec]
            if flag != name:
                notes.append(f"parameters.{name} -> search.space.{flag}")
    if space:
        notes.append(f"parameters -> search.space ({len(space)} flags)")
    return space


def _slo(slo: dict[str, Any], notes: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    soft = False
    ratios: list[str] = []

    def threshold(entry: Any, where: str) -> float | None:
        nonlocal soft
        if isinstance(entry, dict):
            if not entry.get("hard_fail", False):
                soft = True
            if "fail_ratio" in entry:
                ratios.append(where)
            return entry.get("threshold")
        return entry if isinstance(entry, int | float) else None

    for pct, entry in (slo.get("latency") or {}).items():
        t = threshold(entry, f"latency.{pct}")
        if t is not None:
            out[f"e2e_{pct}"] = float(t)
            notes.append(f"slo.latency.{pct} -> slo.e2e_{pct} = {t}")
    for key in ("ttft", "tpot"):
        t = threshold(slo.get(key), key)
        if t is not None:
            out[f"{key}_p90"] = float(t)
            notes.append(f"slo.{key} -> slo.{key}_p90 = {t}")
    if soft or "steepness" in slo:
        notes.append("slo weights, steepness and soft (hard_fail: false) penalties are not used: "
                     "every SLO is a constraint; a configuration that misses one is infeasible")
    if ratios:
        notes.append(f"slo fail_ratio ({', '.join(ratios)}) is not used: the percentile itself is the limit "
                     "(p90 under its threshold lets 10% of requests exceed it)")
    return out




class _LazyCluster:
    """Connects to the cluster only when a name needs it, and only once."""

    def __init__(self, cluster: ClusterCatalog | None):
        self._cluster = cluster

    def _get(self) -> ClusterCatalog:
        if self._cluster is None:
            self._cluster = connect()
        return self._cluster

    def runtime(self, name: str) -> dict[str, Any] | None:
        return self._get().runtime(name)

    def base_model(self, name: str) -> dict[str, Any] | None:
        return self._get().base_model(name)


def convert_seed(data: dict[str, Any], source: str = "task",
                 cluster: ClusterCatalog | None = None) -> tuple[dict[str, Any], list[str]]:
    """Return (our spec as a dict, notes). Validation happens afterwards on the result.

    ``cluster`` answers for OME object names (default: the configured cluster, when reachable)."""
    try:
        return _convert(data, _LazyCluster(cluster))
    except SpecError as e:
        raise SpecError(e.problems, source) from None


def _convert(data: dict[str, Any], cluster: ClusterCatalog) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    model = data.get("model") or {}
    bench = data.get("benchmark") or {}
    opt = data.get("optimization") or {}
    out: dict[str, Any] = {"name": data.get("task_name", "seed-task")}
    notes.append(f"task_name -> name = {out['name']!r}")
    if data.get("description"):
        out["description"] = data["description"]
    engine, runtime_name = resolve.resolve_engine(data.get("base_runtime", "sglang"), cluster, notes)
    out["engine"] = engine
    model_name = model.get("id_or_path") if isinstance(model, dict) else model
    model_id, base_model_name = resolve.resolve_model(str(model_name or ""), bench.get("model_tokenizer"),
                                                      cluster, notes)
    out["model"] = {"id": model_id}
    if bench.get("model_name"):
        out["model"]["served_name"] = bench["model_name"]
        notes.append(f"benchmark.model_name -> model.served_name = {bench['model_name']!r}")
    mode = data.get("deployment_mode", "local")
    out["deployment"] = _DEPLOYMENTS.get(mode, mode)
    notes.append(f"deployment_mode {mode!r} -> deployment = {out['deployment']!r}")
    if mode == "ome":
        out["kubernetes"] = _ome_options(data, model, base_model_name, runtime_name, notes)
    elif base_model_name or runtime_name:
        notes.append("the OME names only choose the engine and the model: deployment is not ome")
    if data.get("runtime_image_tag"):
        out["docker"] = {"image_tag": data["runtime_image_tag"]}
        notes.append(f"runtime_image_tag -> docker.image_tag = {data['runtime_image_tag']!r}")

    strategy = opt.get("strategy", "grid_search")
    space = _space(data.get("parameters") or {}, engine, notes)
    fixed: dict[str, Any] = {}
    for key, expand in (("parallel_config", resolve.parallelism), ("quant_config", resolve.quantization)):
        if data.get(key):
            more_fixed, more_space = expand(data[key], engine, notes)
            fixed.update(more_fixed)
            space.update(more_space)
    if fixed:
        out["fixed_args"] = fixed
        notes.append(f"-> fixed_args {fixed}")
    search: dict[str, Any] = {"strategy": _STRATEGIES.get(strategy, strategy), "space": space}
    notes.append(f"optimization.strategy {strategy!r} -> search.strategy = {search['strategy']!r}")
    if "max_iterations" in opt:
        search["max_experiments"] = opt["max_iterations"]
        notes.append(f"optimization.max_iterations -> search.max_experiments = {opt['max_iterations']}")
    out["search"] = search
    if engine in ("sglang", "vllm"):
        out["gpus"], where = resolve.gpus_needed(engine, space, fixed)
        shown = " x ".join(f"{k} {v}" for k, v in where.items()) or "no parallel flag above 1"
        notes.append(f"no GPU count in the seed format: gpus = {out['gpus']}, the most one experiment needs "
                     f"(tp x pp x dp: {shown}); each experiment takes only the GPUs it needs")

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
    if data.get("storage") and mode != "ome":
        notes.append("storage is not used: the engine loads the model by its id (storage applies to OME)")
    for key in sorted(set(data) - _READ_KEYS):
        notes.append(f"{key} is not used by this tuner")
    return out, notes


def _ome_options(data: dict[str, Any], model: dict[str, Any], base_model: str | None, runtime: str | None,
                 notes: list[str]) -> dict[str, Any]:
    """The kubernetes options of an OME-mode seed task: which ClusterBaseModel and runtime it uses."""
    options: dict[str, Any] = {"mode": "ome", "namespace": model.get("namespace", "autotuner")}
    if data.get("clusterbasemodel_config") or data.get("clusterservingruntime_config"):
        options["create_presets"] = True
        notes.append("clusterbasemodel_config / clusterservingruntime_config presets -> "
                     "kubernetes.create_presets = true (the tuner creates the model and runtime objects)")
    else:
        if base_model:
            options["base_model"] = base_model
            notes.append(f"-> kubernetes.base_model = {base_model!r}")
        if runtime:
            options["runtime"] = runtime
            notes.append(f"-> kubernetes.runtime = {runtime!r}")
    storage = data.get("storage") or {}
    if storage.get("mount_path"):
        options["model_path"] = storage["mount_path"]
        notes.append(f"storage.mount_path -> kubernetes.model_path = {storage['mount_path']!r}")
    return options
