"""The shipped SGLang/vLLM flag catalogs, checking a task's flags against them, and ``autotuner engines``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from autotuner.cli.engines_cmd import engines_app
from autotuner.engines.catalog import (CATALOG_DIR, CatalogError, available_versions, load_catalog,
                                       nearest_version, validate_flags, version_key)
from autotuner.engines.preflight import check_flags

REQUIRED_KEYS = {"type", "choices", "default", "boolean", "negation", "nargs", "aliases", "help"}


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_two_releases_shipped_with_provenance(engine):
    versions = available_versions(engine)
    assert len(versions) >= 2
    assert versions == sorted(versions, key=version_key)
    for version in versions:
        data = json.loads((CATALOG_DIR / f"{engine}-{version}.json").read_text())
        assert data["engine"] == engine and data["version"] == version
        prov = data["provenance"]
        assert prov["source"].startswith(f"{engine}-{version}-") and prov["source"].endswith(".whl")
        assert len(prov["sha256"]) == 64 and prov["tool"] == "scripts/gen_flag_catalogs.py"
        assert len(data["flags"]) > 200
        for name, entry in data["flags"].items():
            assert REQUIRED_KEYS <= set(entry), name
            assert entry["type"] in {"int", "float", "str", "bool", "list", "json"}, name
            assert not name.startswith("-")
            assert len(entry["help"]) <= 200


def test_newest_is_the_default_and_unknown_version_lists_shipped():
    newest = available_versions("sglang")[-1]
    assert load_catalog("sglang").version == newest
    with pytest.raises(CatalogError) as err:
        load_catalog("sglang", "0.0.1")
    for version in available_versions("sglang"):
        assert version in str(err.value)
    with pytest.raises(CatalogError):
        load_catalog("no-such-engine")


def test_version_prefix_and_nearest():
    newest = available_versions("vllm")[-1]
    major_minor = ".".join(newest.split(".")[:2])
    assert load_catalog("vllm", major_minor).version == newest
    assert load_catalog("vllm", "v" + newest).version == newest
    assert nearest_version("vllm", "999.0") == newest
    assert nearest_version("vllm", "0.0.1") == available_versions("vllm")[0]


def test_version_order():
    assert version_key("0.5.9") < version_key("0.5.10") < version_key("0.5.10.post1") < version_key("0.5.11")


def test_sglang_known_flags():
    flags = load_catalog("sglang").flags
    policy = flags["schedule-policy"]
    assert {"lpm", "fcfs"} <= set(policy["choices"]) and policy["type"] == "str"
    assert flags["mem-fraction-static"]["type"] == "float"
    radix = flags["disable-radix-cache"]
    assert radix["boolean"] and radix["type"] == "bool" and radix["default"] is False
    assert flags["tp-size"]["type"] == "int" and flags["tp-size"]["default"] == 1
    assert flags["max-running-requests"]["type"] == "int"
    assert flags["port"]["default"] == 30000


def test_vllm_known_flags():
    flags = load_catalog("vllm").flags
    assert flags["gpu-memory-utilization"]["type"] == "float"
    assert flags["gpu-memory-utilization"]["bounds"] == {"gt": 0, "le": 1}
    assert flags["max-num-seqs"]["type"] == "int"
    prefix = flags["enable-prefix-caching"]
    assert prefix["boolean"] and prefix["negation"] == "no-enable-prefix-caching"
    assert "-tp" in flags["tensor-parallel-size"]["aliases"]
    assert flags["port"]["default"] == 8000  # a frontend flag
    assert flags["served-model-name"]["type"] == "list"
    assert "fp8" in flags["kv-cache-dtype"]["known_values"] and flags["kv-cache-dtype"]["choices"] is None


def test_misspelled_flag_suggests_the_right_one():
    problems = validate_flags("sglang", None, {"mem-fraction-statc": 0.8}, "task.fixed_args")
    assert len(problems) == 1
    assert problems[0].startswith("task.fixed_args.mem-fraction-statc: unknown flag 'mem-fraction-statc' for sglang ")
    assert problems[0].endswith("did you mean 'mem-fraction-static'?")


def test_unknown_flag_without_close_match_points_at_the_listing():
    problem = load_catalog("vllm").check("zzzzqqq", 1)
    assert "unknown flag 'zzzzqqq'" in problem and "autotuner engines flags vllm" in problem


def test_choice_outside_the_list_names_the_real_choices():
    catalog = load_catalog("sglang")
    problem = catalog.check("schedule-policy", "fastest")
    choices = catalog.flags["schedule-policy"]["choices"]
    assert problem == f"'fastest' is not allowed; allowed: {', '.join(choices)}"
    assert catalog.check("schedule-policy", "lpm") is None


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("max-running-requests", "abc", "expects an integer (got 'abc')"),
    ("max-running-requests", 4.5, "expects an integer (got 4.5)"),
    ("max-running-requests", True, "expects an integer (got true)"),
    ("mem-fraction-static", "lots", "expects a number (got 'lots')"),
    ("disable-radix-cache", "yes", "is a switch: expects true or false (got 'yes')"),
    ("tp-size", [1, 2], "expects a single value (got [1, 2])"),
])
def test_type_errors(flag, value, expected):
    assert load_catalog("sglang").check(flag, value) == expected


@pytest.mark.parametrize(("flag", "value"), [
    ("max-running-requests", 256), ("max-running-requests", "256"), ("mem-fraction-static", 0.85),
    ("mem-fraction-static", 1), ("mem-fraction-static", "0.8"), ("disable-radix-cache", True),
    ("disable-radix-cache", False), ("disable-radix-cache", "false"), ("max-total-tokens", "64k"),
    ("tensor-parallel-size", 2), ("schedule-policy", None), ("mem-fraction-static", None),
])
def test_good_values(flag, value):
    assert load_catalog("sglang").check(flag, value) is None


def test_vllm_specific_spellings_and_values():
    catalog = load_catalog("vllm")
    assert catalog.check("max_num_seqs", 128) is None  # FlexibleArgumentParser takes underscores
    assert catalog.check("no-enable-prefix-caching", True) is None
    assert catalog.check("compilation-config", {"mode": 3}) is None
    assert catalog.check("compilation-config", '{"mode": 3}') is None
    assert catalog.check("compilation-config.mode", 3) is None  # one key of a JSON flag
    assert catalog.check("compilation-config", "{oops").startswith("expects JSON")
    assert catalog.check("max-model-len", "32k") is None and catalog.check("max-model-len", "auto") is None
    assert catalog.check("max-num-seqs", "8k") == "expects an integer (got '8k')"
    assert catalog.check("gpu-memory-utilization", 1.5) == "must be <= 1 (got 1.5)"
    assert catalog.check("gpu-memory-utilization", 0) == "must be > 0 (got 0)"
    assert catalog.check("served-model-name", ["a", "b"]) is None
    assert catalog.check("kv-cache-dtype", "some_plugin_dtype") is None  # Literal | str: not enforced
    assert catalog.check("scheduling-policy", "lifo").startswith("'lifo' is not allowed; allowed: ")


def test_sglang_takes_no_underscore_spelling():
    problem = load_catalog("sglang").check("mem_fraction_static", 0.8)
    assert problem.endswith("did you mean 'mem-fraction-static'?")


def test_canonical_names_map_through_the_adapter():
    ok = {"tp": 2, "pp": 1, "dp": 1, "quantization": "fp8", "kv_cache_dtype": "fp8_e4m3"}
    assert check_flags("sglang", None, ok, "fixed_args") == []
    assert check_flags("vllm", None, {**ok, "ep": True, "kv_cache_dtype": "fp8"}, "fixed_args") == []
    problems = check_flags("vllm", None, {"tp": "two", "ep": 4}, "space")
    assert problems == ["space.tp: expects an integer (got 'two')",
                        "space.ep: is a switch: expects true or false (got 4)"]


def test_a_flag_set_twice_under_two_names():
    problems = check_flags("sglang", None, {"tp": 2, "tensor-parallel-size": 4}, "fixed_args")
    assert problems == ["fixed_args.tensor-parallel-size: sets --tp-size again (already set as 'tp')"]


def test_unshipped_version_uses_the_nearest_and_unknown_engine_is_not_checked():
    problems = validate_flags("vllm", "999.1", {"max-num-seq": 8}, "w")
    assert problems and f"for vllm {available_versions('vllm')[-1]};" in problems[0]
    assert check_flags("no-such-engine", None, {"x": 1}, "w") == []
    assert validate_flags("sglang", None, {"mem-fraction-statc": 1}, "")[0].startswith("mem-fraction-statc: ")


# ---- CLI --------------------------------------------------------------------------------------------

def _invoke(*args):
    return CliRunner().invoke(engines_app, list(args), env={"COLUMNS": "200"})


def test_cli_flags_search():
    result = _invoke("flags", "sglang", "--search", "schedule-policy")
    assert result.exit_code == 0, result.output
    assert "--schedule-policy" in result.output and "lpm" in result.output and "fcfs" in result.output
    assert "--disable-radix-cache" not in result.output


def test_cli_flags_shows_negation_and_aliases():
    result = _invoke("flags", "vllm", "--search", "enable-prefix-caching")
    assert "--no-enable-prefix-caching" in result.output and "bool" in result.output
    result = _invoke("flags", "vllm", "--search", "tensor-parallel-size")
    assert "-tp" in result.output


def test_cli_versions_and_errors():
    result = _invoke("versions", "vllm")
    assert result.exit_code == 0
    for version in available_versions("vllm"):
        assert version in result.output
    result = _invoke("flags", "vllm", "--version", "0.0.1")
    assert result.exit_code == 2 and "shipped:" in result.output
    assert _invoke("versions", "nonesuch").exit_code == 2
