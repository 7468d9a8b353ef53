"""The static flag parser on small synthetic sources (no download), and the catalog generator script."""

from __future__ import annotations

import importlib.util
import json
import textwrap
import zipfile
from pathlib import Path

from autotuner.engines.catalog.catalog_parse import sglang_flags, vllm_flags
from autotuner.engines.catalog.catalog_static import Scope, SourceTree, evaluate

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_flag_catalogs", ROOT / "scripts" / "gen_flag_catalogs.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def tree(files: dict[str, str]) -> SourceTree:
    """Sources by dotted module name (``pkg.__init__`` for a package's own file)."""
    return SourceTree({name.replace(".", "/") + ".py": textwrap.dedent(text) for name, text in files.items()})


# An older SGLang: a dataclass and hand-written parser.add_argument calls.
CLASSIC_SGLANG = tree({
    "sglang.srt.choices": """
        POLICIES = ["lpm", "random"]
    """,
    "sglang.srt.server_args": """
        import argparse
        import dataclasses
        from typing import List, Optional
        from sglang.srt.choices import POLICIES

        @dataclasses.dataclass
        class ServerArgs:
            model_path: str
            tp_size: int = 1
            mem_fraction_static: Optional[float] = None
            schedule_policy: str = "fcfs"
            lora_paths: Optional[List[str]] = dataclasses.field(default_factory=list)

            @staticmethod
            def add_cli_args(parser: argparse.ArgumentParser):
                parser.add_argument("--model-path", "--model", type=str, required=True,
                                    help="The path of the model weights. This can be a local folder.")
                parser.add_argument("--tp-size", "--tensor-parallel-size", type=int,
                                    default=ServerArgs.tp_size, help="The tensor parallelism size.")
                parser.add_argument("--mem-fraction-static", type=float, default=ServerArgs.mem_fraction_static)
                parser.add_argument("--schedule-policy", type=str, default=ServerArgs.schedule_policy,
                                    choices=POLICIES + ["fcfs"], help=f"Policy, one of {POLICIES}.")
                parser.add_argument("--disable-radix-cache", action="store_true", help="Disable radix cache.")
                parser.add_argument("--lora-paths", type=str, nargs="*", default=ServerArgs.lora_paths)
                parser.add_argument("--enable-thing", action=argparse.BooleanOptionalAction, default=True)
                parser.add_argument("--secret", type=str, default=os.environ.get("X"), choices=make_choices())
    """,
})


def test_classic_sglang_parser():
    flags, gaps = sglang_flags(CLASSIC_SGLANG)
    assert set(flags) == {"model-path", "tp-size", "mem-fraction-static", "schedule-policy",
                          "disable-radix-cache", "lora-paths", "enable-thing", "secret"}
    assert flags["model-path"]["aliases"] == ["--model"]
    assert flags["model-path"]["help"] == "The path of the model weights."
    assert flags["tp-size"] == {"type": "int", "choices": None, "default": 1, "boolean": False, "negation": None,
                                "nargs": None, "aliases": ["--tensor-parallel-size"],
                                "help": "The tensor parallelism size."}
    assert flags["mem-fraction-static"]["type"] == "float" and flags["mem-fraction-static"]["default"] is None
    policy = flags["schedule-policy"]
    assert policy["choices"] == ["lpm", "random", "fcfs"] and policy["default"] == "fcfs"
    assert policy["help"] == "Policy, one of ['lpm', 'random']."
    assert flags["disable-radix-cache"]["boolean"] and flags["disable-radix-cache"]["default"] is False
    assert flags["lora-paths"]["type"] == "list" and flags["lora-paths"]["nargs"] == "*"
    assert flags["lora-paths"]["default"] == []
    assert flags["enable-thing"]["negation"] == "no-enable-thing" and flags["enable-thing"]["default"] is True
    assert flags["secret"]["choices"] is None  # not knowable without running the code: noted
    assert sorted(gaps) == ["secret: choices", "secret: default"]


# A newer SGLang: annotated namespace classes collected into ServerArgs (``A[T, "help" | Arg(...)]``).
ANNOTATED_SGLANG = tree({
    "sglang.srt.arg_utils": """
        from typing import Annotated
        A = Annotated
        class Arg:
            pass
    """,
    "sglang.srt.choices": """
        BACKENDS = ["triton", "fa3"]
    """,
    "sglang.srt.fields": """
        from typing import List, Literal, Optional
        import msgspec
        from sglang.srt.arg_utils import A, Arg
        from sglang.srt.choices import BACKENDS

        class Mode:
            FULL = "full"
            OFF = "off"
            ALL = (FULL, OFF)

        class Schedule(msgspec.Struct):
            _NS_PATH = "schedule"
            mem_fraction_static: A[Optional[float], "The fraction of memory for static allocation."] = None
            schedule_policy: A[str, Arg(help="The policy.", choices=["lpm", "fcfs"])] = "fcfs"
            disable_radix_cache: A[bool, "Disable RadixAttention."] = False
            cuda_graph_bs: A[Optional[List[int]], "Batch sizes."] = None
            tp_size: A[int, Arg(help="TP.", cli_name="--tensor-parallel-size", aliases=["--tp-size"])] = 1
            hidden_knob: A[int, Arg(help="Resolved later.", no_cli=True)] = 0
            kv_layout: A[Literal["nhd", "hnd"], "Layout."] = "nhd"
            graph_mode: A[Optional[str], Arg(help="Graph.", choices=Mode.ALL)] = None
            attention_backend: A[Optional[str], Arg(help="Attention.", choices=BACKENDS + ["flex"])] = None
            untyped: int = 3
    """,
    "sglang.srt.server_args": """
        from sglang.srt.fields import Schedule
        from sglang.srt.arg_utils import add_cli_args_from_dataclass
        from sglang.srt.names import parser_names

        def _parser_choices():
            from sglang.srt.names import NAMES
            return list(NAMES)

        class ServerArgs:
            @staticmethod
            def add_cli_args(parser):
                add_cli_args_from_dataclass(parser, ServerArgs)
                parser.add_argument("--reasoning-parser", type=str, choices=["auto"] + _parser_choices(),
                                    default=_declared_default("mem_fraction_static"))
                backends = set(["a", "b"])
                if envs.EXTRA.get():
                    backends.add("c")
                    parser.add_argument("--only-sometimes", action="store_true")
                parser.add_argument("--sampling-backend", choices=backends)

        _INPUT_NAMESPACES = [Schedule]
        _annotations, _defaults, _namespaces = collect_input_fields(_INPUT_NAMESPACES)
        ServerArgs = msgspec.defstruct("ServerArgs", [])
    """,
    "sglang.srt.names": """
        NAMES = ("qwen3", "deepseek-r1")
    """,
})


def test_annotated_sglang_parser():
    flags, gaps = sglang_flags(ANNOTATED_SGLANG)
    assert gaps == []
    assert "hidden-knob" not in flags and "untyped" not in flags and "tp-size" not in flags
    assert flags["tensor-parallel-size"]["aliases"] == ["--tp-size"]
    assert flags["mem-fraction-static"]["type"] == "float"
    assert flags["schedule-policy"]["choices"] == ["lpm", "fcfs"]
    assert flags["disable-radix-cache"]["boolean"] and flags["disable-radix-cache"]["negation"] is None
    bs = flags["cuda-graph-bs"]
    assert (bs["type"], bs["item_type"], bs["nargs"]) == ("list", "int", "+")
    assert flags["kv-layout"]["choices"] == ["nhd", "hnd"] and flags["kv-layout"]["default"] == "nhd"
    assert flags["graph-mode"]["choices"] == ["full", "off"]  # a class attribute built from others
    assert flags["attention-backend"]["choices"] == ["triton", "fa3", "flex"]  # imported constant + list
    assert flags["reasoning-parser"]["choices"] == ["auto", "qwen3", "deepseek-r1"]  # a helper's return
    assert flags["sampling-backend"]["choices"] == ["a", "b"]  # the env-dependent addition is not applied
    assert flags["only-sometimes"]["boolean"]  # flags under an unknowable condition are kept


# vLLM: config dataclasses with attribute docstrings, get_kwargs, and the frontend's loop over its fields.
VLLM = tree({
    "vllm.config.cache": """
        from typing import Literal
        from pydantic import Field
        CacheDType = Literal["auto", "fp8"]
        PrefixHash = Literal["sha256", "xxhash"]

        @config
        class CacheConfig:
            gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
            \"\"\"The fraction of GPU memory to be used. Second sentence.\"\"\"
            cache_dtype: CacheDType | str = "auto"
            \"\"\"KV cache data type.\"\"\"
            enable_prefix_caching: bool = True
            \"\"\"Whether to enable prefix caching.\"\"\"
            prefix_caching_hash_algo: PrefixHash = "sha256"
            \"\"\"Hash.\"\"\"
            num_gpu_blocks_override: int | None = None
            \"\"\"Override.\"\"\"
            swap_space: float = 4
            \"\"\"Swap.\"\"\"
            cpu_layers: list[int] | None = None
            \"\"\"Layers.\"\"\"
            extra: dict[str, int] | None = None
            \"\"\"Extra.\"\"\"
            mode: bool | str | None = None
            \"\"\"Bare flag or a value.\"\"\"
            backend: Literal["a", "b", "pass"] = "a"
            \"\"\"Backend.\"\"\"
    """,
    "vllm.config.compilation": """
        @config
        class CompilationConfig:
            level: int = 0
            \"\"\"Level.\"\"\"
    """,
    "vllm.config.vllm": """
        from vllm.config.compilation import CompilationConfig
        from pydantic import Field

        @config
        class VllmConfig:
            compilation_config: CompilationConfig = Field(default_factory=CompilationConfig)
            \"\"\"`torch.compile` configuration.\"\"\"
    """,
    "vllm.config.__init__": """
        from vllm.config.cache import CacheConfig
        from vllm.config.vllm import VllmConfig
    """,
    "vllm.engine.arg_utils": """
        import argparse
        from vllm.config import CacheConfig, VllmConfig

        class EngineArgs:
            @staticmethod
            def add_cli_args(parser):
                cache_kwargs = get_kwargs(CacheConfig)
                cache_kwargs["backend"]["choices"].remove("pass")
                group = parser.add_argument_group(title="CacheConfig")
                group.add_argument("--gpu-memory-utilization", **cache_kwargs["gpu_memory_utilization"])
                group.add_argument("--kv-cache-dtype", **cache_kwargs["cache_dtype"])
                group.add_argument("--enable-prefix-caching", **{**cache_kwargs["enable_prefix_caching"],
                                                                "default": None})
                for name in ("prefix_caching_hash_algo", "num_gpu_blocks_override", "swap_space",
                             "cpu_layers", "extra", "mode", "backend"):
                    group.add_argument(f"--{name.replace('_', '-')}", **cache_kwargs[name])
                vllm_kwargs = get_kwargs(VllmConfig)
                group.add_argument("--compilation-config", "-cc", **vllm_kwargs["compilation_config"])
                parser.add_argument("--disable-log-stats", action="store_true", help="Disable logging.")
                return parser

        class AsyncEngineArgs(EngineArgs):
            @staticmethod
            def add_cli_args(parser, async_args_only: bool = False):
                if not async_args_only:
                    parser = EngineArgs.add_cli_args(parser)
                parser.add_argument("--enable-log-requests", action=argparse.BooleanOptionalAction,
                                    default=False)
                return parser
    """,
    "vllm.entrypoints.common.cli_args": """
        import json
        from typing import Literal
        from vllm.engine.arg_utils import AsyncEngineArgs

        @config
        class BaseFrontendArgs:
            chat_template: str | None = None
            \"\"\"The chat template.\"\"\"

            @classmethod
            def _customize_cli_kwargs(cls, frontend_kwargs):
                frontend_kwargs["chat_template"]["type"] = json.loads
                return frontend_kwargs

            @classmethod
            def add_cli_args(cls, parser):
                from vllm.engine.arg_utils import get_kwargs
                frontend_kwargs = get_kwargs(cls)
                frontend_kwargs = cls._customize_cli_kwargs(frontend_kwargs)
                for key, value in frontend_kwargs.items():
                    extra_flags = value.pop("flags", [])
                    parser.add_argument(*extra_flags, f"--{key.replace('_', '-')}", **value)
                return parser

        @config
        class FrontendArgs(BaseFrontendArgs):
            host: str | None = None
            \"\"\"Host name.\"\"\"
            port: int = 8000
            \"\"\"Port number.\"\"\"
            uvicorn_log_level: Literal["info", "debug"] = "info"
            \"\"\"Log level for uvicorn.\"\"\"

            @classmethod
            def _customize_cli_kwargs(cls, frontend_kwargs):
                frontend_kwargs = super()._customize_cli_kwargs(frontend_kwargs)
                frontend_kwargs["port"]["flags"] = ["-p"]
                return frontend_kwargs

        def make_arg_parser(parser):
            parser.add_argument("model_tag", type=str, nargs="?")
            parser.add_argument("--headless", action="store_true", default=False)
            parser = FrontendArgs.add_cli_args(parser)
            parser = AsyncEngineArgs.add_cli_args(parser)
            return parser
    """,
    "vllm.utils.argparse_utils": """
        class EnableDisableAction(BooleanOptionalAction):
            pass
    """,
})


def test_vllm_parser():
    flags, gaps = vllm_flags(VLLM)
    assert gaps == []
    assert "model-tag" not in flags  # positional
    gmu = flags["gpu-memory-utilization"]
    assert (gmu["type"], gmu["default"], gmu["bounds"]) == ("float", 0.9, {"gt": 0, "le": 1})
    assert gmu["help"] == "The fraction of GPU memory to be used."
    dtype = flags["kv-cache-dtype"]
    assert dtype["choices"] is None and dtype["known_values"] == ["auto", "fp8"]  # Literal | str
    prefix = flags["enable-prefix-caching"]
    assert prefix["boolean"] and prefix["negation"] == "no-enable-prefix-caching" and prefix["default"] is None
    assert prefix["negation_aliases"] == ["--disable-prefix-caching"]  # EnableDisableAction is present
    assert flags["prefix-caching-hash-algo"]["choices"] == ["sha256", "xxhash"]
    assert flags["num-gpu-blocks-override"]["type"] == "int"
    assert flags["swap-space"]["type"] == "float"
    layers = flags["cpu-layers"]
    assert (layers["type"], layers["item_type"], layers["nargs"]) == ("list", "int", "+")
    assert flags["extra"]["type"] == "json"
    assert (flags["mode"]["type"], flags["mode"]["nargs"]) == ("str", "?")
    assert flags["backend"]["choices"] == ["a", "b"]  # the .remove() was applied
    assert flags["compilation-config"]["type"] == "json" and flags["compilation-config"]["aliases"] == ["-cc"]
    assert flags["disable-log-stats"]["boolean"] and flags["disable-log-stats"]["negation"] is None
    assert flags["enable-log-requests"]["negation"] == "no-enable-log-requests"
    assert flags["headless"]["boolean"]
    assert flags["host"]["type"] == "str" and flags["port"]["default"] == 8000
    assert flags["port"]["aliases"] == ["-p"]  # set in the subclass customization
    assert flags["chat-template"]["type"] == "json"  # set in the base customization, reached through super()
    assert flags["uvicorn-log-level"]["choices"] == ["debug", "info"]  # vLLM sorts Literal choices


def test_evaluator_follows_enums_star_imports_and_comprehensions():
    source = tree({
        "pkg.modes": """
            import enum
            class Hash(enum.Enum):
                NONE = 0
                PARTIAL = 1
        """,
        "pkg.reexport": """
            from pkg.modes import *
        """,
        "pkg.main": """
            from pkg.reexport import Hash
            NAMES = [m.name.lower() for m in list(Hash)]
            SIZES = [1 << k for k in (0, 1, 2)]
        """,
    })
    module = source.module("pkg.main")
    assert evaluate(module.defs["NAMES"], Scope(module)) == ["none", "partial"]
    assert evaluate(module.defs["SIZES"], Scope(module)) == [1, 2, 4]


# ---- the generator script -----------------------------------------------------------------------------

def test_build_catalog_from_a_wheel(tmp_path):
    wheel = tmp_path / "sglang-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path in ("sglang/srt/choices.py", "sglang/srt/server_args.py"):
            zf.writestr(path, CLASSIC_SGLANG.text(path))
    catalog = gen.build_catalog("sglang", gen.wheel_version("sglang", wheel), wheel)
    assert catalog["version"] == "9.9.9" and catalog["engine"] == "sglang"
    prov = catalog["provenance"]
    assert prov["source"] == wheel.name and len(prov["sha256"]) == 64
    assert prov["notes"] == ["choices not statically known (left null): secret",
                             "default not statically known (left null): secret"]
    path = gen.write(catalog, tmp_path / "out")
    text = path.read_text()
    assert json.loads(text) == catalog
    assert sum(1 for line in text.splitlines() if '": {"type":' in line) == len(catalog["flags"])  # 1 per line
