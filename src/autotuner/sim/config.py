"""The simulated engine's command line: SGLang's or vLLM's own flags, normalized into ``EngineConfig``.

``parse_engine_args(argv)`` reads the simulator's flags (``--personality``, ``--gpu``, ``--seed``,
``--startup-seconds``, ``--noise``, ``--cost-model``, ``--overhead-step-ms``, ``--overhead-request-ms``) and the personality's flags. Unknown flags are kept in
``EngineConfig.ignored`` (the caller warns once); a bad value raises ``SimConfigError`` (exit code 2)
with argparse's message, which names the flag and the allowed values. Values left unset are ``None``
until ``with_defaults`` fills in what that engine would choose on that GPU.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace

from .errors import SimConfigError
from ..hardware.gpus import GIB, GPU, GPUS
from ..hardware.models import ModelSpec

PERSONALITIES = ("sglang", "vllm", "trtllm")
SGLANG_POLICIES = ("lpm", "random", "fcfs", "dfs-weight", "lof", "priority")
VLLM_POLICIES = ("fcfs", "priority")
QUANTIZATIONS = ("fp8", "w8a8_fp8", "w8a8_int8", "modelopt", "modelopt_fp4", "mxfp4", "compressed-tensors", "awq",
                 "awq_marlin", "gptq", "gptq_marlin", "marlin", "gguf", "bitsandbytes")
SGLANG_KV_DTYPES = ("auto", "fp8_e5m2", "fp8_e4m3")
VLLM_KV_DTYPES = ("auto", "fp8", "fp8_e5m2", "fp8_e4m3")
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")


@dataclass(frozen=True)
class EngineConfig:
    personality: str
    model: str
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 30000
    gpu: str = "h100"
    seed: int = 0
    startup_seconds: float = 0.5
    startup_model: bool = False  # --startup-model: weights load + compile + graphs (sim/startup.py)
    noise: float = 0.0
    cost_model: str = "auto"  # auto: measured tables when shipped, else roofline
    overhead_step_s: float = 0.0  # extra CPU time of every step (--overhead-step-ms)
    overhead_request_s: float = 0.0  # extra time of the step that admits a request (--overhead-request-ms)
    tp: int = 1
    pp: int = 1
    dp: int = 1
    dp_attention: bool = False  # SGLang --enable-dp-attention: the dp ranks share the tp GPUs (attention DP)
    ep: int = 1  # expert-parallel size (SGLang --ep-size; vLLM --enable-expert-parallel: tp x dp)
    mem_fraction: float | None = None  # SGLang --mem-fraction-static / vLLM --gpu-memory-utilization
    max_running: int | None = None  # SGLang --max-running-requests / vLLM --max-num-seqs
    chunked_prefill: bool | None = None
    chunk_size: int | None = None  # SGLang --chunked-prefill-size (vLLM: the step token budget)
    max_prefill_tokens: int | None = None  # SGLang: tokens of one prefill batch
    max_batched_tokens: int | None = None  # vLLM: tokens of one step
    max_total_tokens: int | None = None  # SGLang: a cap on the KV pool
    schedule_policy: str | None = None
    conservativeness: float = 1.0
    prefix_cache: bool = True
    cuda_graph: bool = True
    cuda_graph_max_bs: int | None = None  # SGLang --cuda-graph-max-bs / vLLM largest capture size
    max_seq_len_to_capture: int = 8192  # vLLM
    mixed_chunk: bool = False
    overlap_schedule: bool = True  # SGLang overlaps scheduling with the GPU unless --disable-overlap-schedule
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    dtype: str = "auto"
    context_length: int | None = None  # SGLang --context-length / vLLM --max-model-len
    stream_interval: int = 1
    torch_compile: bool = False
    block_size: int = 16
    swap_space: float = 4.0
    trust_remote_code: bool = False
    ignored: tuple[str, ...] = ()
    argv: tuple[str, ...] = field(default=(), repr=False)

    @property
    def num_gpus(self) -> int:
        return self.tp * self.pp * (1 if self.dp_attention else self.dp)

    @property
    def attention_tp(self) -> int:
        """GPUs one attention layer is split over (SGLang's DP attention gives each rank tp / dp)."""
        return self.tp // self.dp if self.dp_attention else self.tp

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print and exit; the caller decides
        raise SimConfigError(f"{self.prog}: error: {message}", usage=self.format_usage())


def _number(kind, low, inclusive=True, high=None, extra=()):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, got {text!r}")
        if value in extra:
            return value
        ok = (value >= low if inclusive else value > low) and (high is None or value <= high)
        if not ok:
            rng = f"{'>=' if inclusive else '>'} {low}" + (f" and <= {high}" if high is not None else "")
            also = f" (or {', '.join(map(str, extra))})" if extra else ""
            raise argparse.ArgumentTypeError(f"must be {rng}{also}, got {text!r}")
        return value
    return parse


POSITIVE_INT = _number(int, 1)
NONNEG_FLOAT = _number(float, 0.0)
FRACTION = _number(float, 0.0, inclusive=False, high=1.0)
PORT = _number(int, 1, high=65535)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def _add_sim_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulator")
    g.add_argument("--personality", choices=PERSONALITIES, default="sglang")
    g.add_argument("--gpu", choices=tuple(GPUS), default="h100", type=str.lower)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--startup-seconds", type=NONNEG_FLOAT, default=0.5)
    g.add_argument("--startup-model", action="store_true",
                   help="start up as a real engine would: weights load + compile (cached) + CUDA graphs")
    g.add_argument("--noise", type=_number(float, 0.0, high=0.5), default=0.0)
    g.add_argument("--cost-model", choices=("auto", "roofline"), default="auto",
                   help="step times: auto (aiconfigurator tables when shipped, else roofline) or roofline")
    g.add_argument("--overhead-step-ms", type=NONNEG_FLOAT, default=0.0, help="framework time added to every step")
    g.add_argument("--overhead-request-ms", type=NONNEG_FLOAT, default=0.0,
                   help="framework time (tokenize, HTTP) added to the step that admits each request")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--served-model-name", nargs="+")
    p.add_argument("--host")
    p.add_argument("--port", type=PORT)
    p.add_argument("--quantization", "-q", choices=QUANTIZATIONS)
    p.add_argument("--dtype", choices=DTYPES, default="auto")
    p.add_argument("--trust-remote-code", action="store_true")


def sglang_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sglang.launch_server", allow_abbrev=False, add_help=False)
    _add_sim_flags(p)
    _add_common(p)
    p.add_argument("--model-path", "--model", dest="model")
    p.add_argument("--tp-size", "--tp", dest="tp", type=POSITIVE_INT, default=1)
    p.add_argument("--dp-size", "--dp", dest="dp", type=POSITIVE_INT, default=1)
    p.add_argument("--pp-size", dest="pp", type=POSITIVE_INT, default=1)
    p.add_argument("--mem-fraction-static", type=FRACTION)
    p.add_argument("--chunked-prefill-size", type=_number(int, 1, extra=(-1,)))
    p.add_argument("--max-prefill-tokens", type=POSITIVE_INT)
    p.add_argument("--max-running-requests", type=POSITIVE_INT)
    p.add_argument("--max-total-tokens", type=POSITIVE_INT)
    p.add_argument("--schedule-policy", choices=SGLANG_POLICIES, default="fcfs")
    p.add_argument("--schedule-conservativeness", type=_number(float, 0.0, inclusive=False), default=1.0)
    p.add_argument("--disable-radix-cache", action="store_true")
    p.add_argument("--cuda-graph-max-bs", "--cuda-graph-max-bs-decode", dest="cuda_graph_max_bs", type=POSITIVE_INT)  # renamed in 0.5.23
    p.add_argument("--disable-cuda-graph", action="store_true")
    p.add_argument("--enable-mixed-chunk", action="store_true")
    p.add_argument("--enable-dp-attention", action="store_true")
    p.add_argument("--ep-size", "--expert-parallel-size", "--ep", dest="ep_size", type=POSITIVE_INT, default=1)
    p.add_argument("--disable-overlap-schedule", action="store_true")
    p.add_argument("--kv-cache-dtype", choices=SGLANG_KV_DTYPES, default="auto")
    p.add_argument("--context-length", type=POSITIVE_INT)
    p.add_argument("--stream-interval", type=POSITIVE_INT, default=1)
    p.add_argument("--enable-torch-compile", action="store_true")
    p.add_argument("--enable-metrics", action="store_true")  # /metrics is always on in the simulator
    return p


def vllm_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm serve", allow_abbrev=False, add_help=False)
    _add_sim_flags(p)
    _add_common(p)
    p.add_argument("--model", dest="model")
    p.add_argument("--tensor-parallel-size", "-tp", dest="tp", type=POSITIVE_INT, default=1)
    p.add_argument("--pipeline-parallel-size", "-pp", dest="pp", type=POSITIVE_INT, default=1)
    p.add_argument("--data-parallel-size", "-dp", dest="dp", type=POSITIVE_INT, default=1)
    p.add_argument("--gpu-memory-utilization", type=FRACTION, default=0.9)
    p.add_argument("--max-num-seqs", type=POSITIVE_INT)
    p.add_argument("--max-num-batched-tokens", type=POSITIVE_INT)
    p.add_argument("--enable-chunked-prefill", nargs="?", const=True, type=_bool, default=None)
    p.add_argument("--no-enable-chunked-prefill", dest="enable_chunked_prefill", action="store_false")
    p.add_argument("--enable-prefix-caching", nargs="?", const=True, type=_bool, default=True)
    p.add_argument("--no-enable-prefix-caching", dest="enable_prefix_caching", action="store_false")
    p.add_argument("--enforce-eager", action="store_true")
    p.add_argument("--max-model-len", type=POSITIVE_INT)
    p.add_argument("--kv-cache-dtype", choices=VLLM_KV_DTYPES, default="auto")
    p.add_argument("--block-size", type=int, choices=(1, 8, 16, 32, 64, 128), default=16)
    p.add_argument("--swap-space", type=NONNEG_FLOAT, default=4.0)
    p.add_argument("--scheduling-policy", choices=VLLM_POLICIES, default="fcfs")
    p.add_argument("--max-seq-len-to-capture", type=POSITIVE_INT, default=8192)
    p.add_argument("--cuda-graph-sizes", type=POSITIVE_INT, nargs="+")
    p.add_argument("--enable-expert-parallel", action="store_true")
    p.add_argument("--disable-log-requests", action="store_true")
    p.add_argument("--disable-log-stats", action="store_true")
    return p


def trtllm_parser() -> argparse.ArgumentParser:
    from .config_trtllm import add_trtllm_flags
    p = _Parser(prog="trtllm-serve", allow_abbrev=False, add_help=False)
    _add_sim_flags(p)
    p.add_argument("--host")
    p.add_argument("--port", type=PORT)
    add_trtllm_flags(p, POSITIVE_INT, FRACTION)
    # trtllm-serve reads the weight format from the checkpoint; the twin is told it
    p.add_argument("--checkpoint-quantization", dest="quantization", choices=QUANTIZATIONS)
    return p


def _parse_trtllm(argv: list[str], common: dict) -> EngineConfig:
    from .config_trtllm import argv_for_noise, ignored_options, read_extra_options, trtllm_settings
    parser = trtllm_parser()
    model, argv = _take_positional(parser, argv)
    ns, extra = parser.parse_known_args(argv)
    if not model:
        parser.error("Missing argument 'MODEL'.")
    options, text = read_extra_options(ns.extra_options)
    common = {**common, "ignored": _ignored(extra) + tuple(ignored_options(options)),
              "argv": argv_for_noise(argv, text)}
    return EngineConfig(model=model, port=ns.port or 8000, host=ns.host or "localhost", quantization=ns.quantization,
                        **{**common, **trtllm_settings(ns, options)})


def _ignored(extra: list[str]) -> tuple[str, ...]:
    return tuple(a.split("=", 1)[0] for a in extra if a.startswith("-"))


def _take_positional(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str | None, list[str]]:
    """vLLM's ``MODEL`` positional: the first bare word that is not a flag's value. A bare word right after
    an unknown flag is taken as that flag's value, so an ignored ``--flag 3`` never becomes the model."""
    nargs = {opt: a.nargs for a in parser._actions for opt in a.option_strings}
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            if "=" not in arg:
                n = nargs.get(arg, "unknown")
                following = argv[i + 1].lower() if i + 1 < len(argv) else ""
                skip = n != 0 and (n != "?" or following in ("true", "false", "1", "0", "yes", "no"))
            continue
        return arg, argv[:i] + argv[i + 1:]
    return None, argv


def parse_engine_args(argv: list[str]) -> EngineConfig:
    """Parse a simulated engine's command line; raises ``SimConfigError`` on a bad flag value."""
    argv = list(argv)
    pre = _Parser(prog="autotuner.sim", allow_abbrev=False, add_help=False)
    _add_sim_flags(pre)
    personality = pre.parse_known_args(argv)[0].personality
    if personality == "trtllm":
        ns = pre.parse_known_args(argv)[0]
        return _parse_trtllm(argv, dict(personality=personality, gpu=ns.gpu, seed=ns.seed,
                                        startup_seconds=ns.startup_seconds, startup_model=ns.startup_model,
                                        noise=ns.noise,
                                        cost_model=ns.cost_model, overhead_step_s=ns.overhead_step_ms / 1000,
                                        overhead_request_s=ns.overhead_request_ms / 1000))
    parser = sglang_parser() if personality == "sglang" else vllm_parser()
    model_tag = None
    if personality == "vllm":
        model_tag, argv = _take_positional(parser, argv)
    ns, extra = parser.parse_known_args(argv)
    common = dict(personality=personality, host=ns.host, gpu=ns.gpu, seed=ns.seed,
                  startup_seconds=ns.startup_seconds, startup_model=ns.startup_model, noise=ns.noise,
                  cost_model=ns.cost_model,
                  overhead_step_s=ns.overhead_step_ms / 1000, overhead_request_s=ns.overhead_request_ms / 1000, tp=ns.tp, pp=ns.pp, dp=ns.dp,
                  served_model_name=ns.served_model_name[0] if ns.served_model_name else None,
                  quantization=ns.quantization, kv_cache_dtype=ns.kv_cache_dtype, dtype=ns.dtype,
                  trust_remote_code=ns.trust_remote_code, ignored=_ignored(extra), argv=tuple(argv))
    if personality == "sglang":
        if not ns.model:
            parser.error("the following arguments are required: --model-path")
        chunk = ns.chunked_prefill_size
        return EngineConfig(
            model=ns.model, port=ns.port or 30000, **{**common, "host": ns.host or "127.0.0.1"},
            mem_fraction=ns.mem_fraction_static, max_running=ns.max_running_requests,
            chunked_prefill=None if chunk is None else chunk > 0, chunk_size=chunk if chunk and chunk > 0 else None,
            max_prefill_tokens=ns.max_prefill_tokens, max_total_tokens=ns.max_total_tokens,
            schedule_policy=ns.schedule_policy, conservativeness=ns.schedule_conservativeness,
            prefix_cache=not ns.disable_radix_cache, cuda_graph=not ns.disable_cuda_graph,
            cuda_graph_max_bs=ns.cuda_graph_max_bs, mixed_chunk=ns.enable_mixed_chunk,
            overlap_schedule=not ns.disable_overlap_schedule, context_length=ns.context_length,
            dp_attention=ns.enable_dp_attention, ep=ns.ep_size,
            stream_interval=ns.stream_interval, torch_compile=ns.enable_torch_compile)
    model = ns.model or model_tag
    if not model:
        parser.error("the following arguments are required: model_tag (or --model)")
    if ns.model and model_tag and ns.model != model_tag:
        parser.error(f"two models given: {model_tag!r} and --model {ns.model!r}")
    return EngineConfig(
        model=model, port=ns.port or 8000, **{**common, "host": ns.host or "0.0.0.0"},
        mem_fraction=ns.gpu_memory_utilization, max_running=ns.max_num_seqs,
        chunked_prefill=ns.enable_chunked_prefill, max_batched_tokens=ns.max_num_batched_tokens,
        schedule_policy=ns.scheduling_policy, prefix_cache=ns.enable_prefix_caching,
        cuda_graph=not ns.enforce_eager,
        cuda_graph_max_bs=max(ns.cuda_graph_sizes) if ns.cuda_graph_sizes else None,
        max_seq_len_to_capture=ns.max_seq_len_to_capture, context_length=ns.max_model_len,
        block_size=ns.block_size, swap_space=ns.swap_space,
        ep=ns.tp * ns.dp if ns.enable_expert_parallel else 1)


def sglang_default_mem_fraction(tp: int) -> float:
    for min_tp, fraction in ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87)):
        if tp >= min_tp:
            return fraction
    return 0.88


def with_defaults(cfg: EngineConfig, gpu: GPU, model: ModelSpec) -> EngineConfig:
    """The configuration with every unset value as that engine would choose it on ``gpu``."""
    big_gpu = gpu.memory_bytes >= 70 * GIB
    context = cfg.context_length or model.max_context
    if cfg.personality == "trtllm":
        from .config_trtllm import trtllm_defaults
        return trtllm_defaults(cfg, context)
    if cfg.personality == "sglang":
        chunk = cfg.chunk_size or (4096 if gpu.memory_bytes < 60 * GIB else 8192 if gpu.memory_bytes < 120 * GIB
                                   else 16384)
        return replace(
            cfg, mem_fraction=cfg.mem_fraction or sglang_default_mem_fraction(cfg.tp),
            chunked_prefill=cfg.chunked_prefill is not False, chunk_size=chunk if cfg.chunked_prefill is not False
            else None, max_prefill_tokens=cfg.max_prefill_tokens or 16384,
            cuda_graph_max_bs=cfg.cuda_graph_max_bs or (160 if cfg.tp < 4 else 256), context_length=context,
            schedule_policy=cfg.schedule_policy or "fcfs", block_size=16)
    chunked = cfg.chunked_prefill is not False
    if cfg.max_batched_tokens:
        budget = cfg.max_batched_tokens
    elif chunked:
        budget = 8192 if big_gpu else 2048
    else:
        budget = max(context, 2048)
    return replace(
        cfg, chunked_prefill=chunked, max_batched_tokens=budget, chunk_size=budget, max_prefill_tokens=budget,
        max_running=cfg.max_running or (1024 if big_gpu else 256), context_length=context,
        cuda_graph_max_bs=cfg.cuda_graph_max_bs or 512, schedule_policy=cfg.schedule_policy or "fcfs")
