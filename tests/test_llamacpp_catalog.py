"""The llama-server flag catalog: parsing ``--help`` text, and the catalog shipped in the package."""

import importlib.util
from pathlib import Path

import pytest

from autotuner.engines.llamacpp import catalog

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gen_llamacpp_catalog", ROOT / "scripts" / "gen_llamacpp_catalog.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

SAMPLE = (Path(__file__).parent / "data" / "llamacpp_help_sample.txt").read_text()


@pytest.fixture(scope="module")
def flags():
    return gen.parse_help(SAMPLE)


def test_value_flags_types_defaults_aliases_env(flags):
    assert flags["threads"] == {"type": "int", "choices": None, "default": -1, "boolean": False, "negation": None,
                                "aliases": ["-t"], "env": "LLAMA_ARG_THREADS", "value_hint": "N",
                                "help": "number of CPU threads to use during generation (default: -1)"}
    assert flags["threads-batch"]["type"] == "int" and flags["threads-batch"]["default"] is None  # "same as"
    assert flags["ctx-size"]["default"] == 0 and flags["ctx-size"]["aliases"] == ["-c"]
    assert flags["temp"]["type"] == "float" and flags["temp"]["default"] == 0.8
    assert flags["temp"]["aliases"] == ["--temperature"]
    assert flags["defrag-thold"]["type"] == "float"
    assert flags["port"]["type"] == "int" and flags["port"]["default"] == 8080
    assert flags["sleep-idle-seconds"]["default"] == -1
    assert flags["poll"]["type"] == "int" and flags["poll"]["default"] == 50


def test_choices_from_the_hint_and_from_allowed_values(flags):
    assert flags["flash-attn"]["choices"] == ["on", "off", "auto"] and flags["flash-attn"]["default"] == "auto"
    assert flags["split-mode"]["choices"] == ["none", "layer", "row", "tensor"]
    assert flags["split-mode"]["env"] == "LLAMA_ARG_SPLIT_MODE"  # after a blank line inside the help
    assert flags["cache-type-k"]["choices"][:4] == ["f32", "f16", "bf16", "q8_0"]
    assert flags["cache-type-k"]["default"] == "f16" and flags["cache-type-k"]["type"] == "str"


def test_booleans_and_their_negations(flags):
    cb = flags["cont-batching"]
    assert (cb["boolean"], cb["type"], cb["default"], cb["negation"], cb["aliases"]) == \
        (True, "bool", True, "no-cont-batching", ["-cb"])
    assert flags["kv-offload"]["negation"] == "no-kv-offload" and flags["kv-offload"]["aliases"] == ["-kvo"]
    assert flags["repack"]["negation"] == "no-repack" and flags["repack"]["aliases"] == []
    assert flags["kv-unified"]["default"] is None  # "enabled if number of slots is auto": not a constant
    assert flags["ui"]["aliases"] == ["--webui"] and flags["ui"]["negation"] == "no-ui"
    assert flags["no-host"]["boolean"] and flags["no-host"]["negation"] is None
    assert flags["help"]["aliases"] == ["-h", "--usage"]


def test_removed_flags_are_left_out_and_sections_do_not_leak(flags):
    assert "draft" not in flags and "draft-n" not in flags
    assert all(not name.startswith("-") for name in flags)
    assert len(flags) == 19


def test_version_line():
    assert gen.parse_version("version: 0.6.0-dev (build 0, commit unknown)\nbuilt with GNU 12.2.0") == \
        {"version": "0.6.0-dev", "build": 0, "commit": "unknown"}
    assert gen.parse_version("version: 4567 (abc123)")["version"] == "4567"
    with pytest.raises(ValueError, match="cannot find a version"):
        gen.parse_version("usage: llama-server")


def test_shipped_catalog_has_the_tunables():
    cat = catalog()
    assert cat["engine"] == "llamacpp" and cat["version"] and "llama-server --help" in cat["provenance"]
    f = cat["flags"]
    for name in ("threads", "threads-batch", "parallel", "batch-size", "ubatch-size", "ctx-size", "flash-attn",
                 "cache-type-k", "cache-type-v", "cont-batching", "defrag-thold"):
        assert name in f, name
    assert f["cont-batching"]["negation"] == "no-cont-batching"
    assert set(f["flash-attn"]["choices"]) == {"on", "off", "auto"}
    assert len(f) > 150
