"""GGUF model resolution: local paths, installed model packages, clear errors; GGUF header reading."""

import importlib
import sys

import pytest

from autotuner.engines.models import (ModelResolutionError, gguf_context_length, installed_models,
                                      resolve_gguf)
from .llamacpp_fixtures import make_model_package, write_gguf


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return root


def test_local_file_and_directory(tmp_path):
    f = write_gguf(tmp_path / "m" / "tiny.gguf")
    assert resolve_gguf(str(f)) == f.resolve()
    assert resolve_gguf(str(tmp_path / "m")) == f.resolve()
    write_gguf(tmp_path / "m" / "other.gguf")
    with pytest.raises(ModelResolutionError, match="exactly one .gguf.*other.gguf, tiny.gguf"):
        resolve_gguf(str(tmp_path / "m"))


def test_missing_path_and_non_gguf_file(tmp_path):
    with pytest.raises(ModelResolutionError, match="does not exist"):
        resolve_gguf(str(tmp_path / "nope.gguf"))
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ModelResolutionError, match="not a GGUF file"):
        resolve_gguf(str(bad))


def test_installed_package_by_distribution_and_import_name(site):
    pkg = make_model_package(site, "fake-tiny-model", ["tiny.Q4_0.gguf"])
    expected = (pkg / "tiny.Q4_0.gguf").resolve()
    assert resolve_gguf("fake-tiny-model") == expected
    assert resolve_gguf("fake_tiny_model") == expected
    assert "fake_tiny_model" not in sys.modules  # found without importing the package
    assert any(m.package == "fake-tiny-model" and m.path == expected for m in installed_models())


def test_package_without_metadata_is_found_by_import_name(site):
    pkg = make_model_package(site, "bare-model", ["b.gguf"], with_metadata=False)
    assert resolve_gguf("bare_model") == (pkg / "b.gguf").resolve()


def test_package_with_several_files_needs_a_choice(site):
    pkg = make_model_package(site, "multi-model", ["a.Q4_0.gguf", "a.Q8_0.gguf"])
    with pytest.raises(ModelResolutionError, match="several .gguf files.*'multi-model:<file>'.*a.Q4_0.gguf"):
        resolve_gguf("multi-model")
    assert resolve_gguf("multi-model:a.Q8_0.gguf") == (pkg / "a.Q8_0.gguf").resolve()
    with pytest.raises(ModelResolutionError, match="no file 'a.F16.gguf'"):
        resolve_gguf("multi-model:a.F16.gguf")


def test_unknown_name_lists_what_is_installed(site):
    make_model_package(site, "fake-listed-model", ["listed.gguf"])
    with pytest.raises(ModelResolutionError) as err:
        resolve_gguf("HuggingFaceTB/SmolLM2-135M-Instruct")
    text = str(err.value)
    assert "neither a .gguf path nor an installed model package" in text
    assert "fake-listed-model (listed.gguf)" in text
    assert "not downloaded" in text


def test_context_length_from_the_gguf_header(tmp_path):
    assert gguf_context_length(write_gguf(tmp_path / "a.gguf", context_length=4096)) == 4096
    assert gguf_context_length(write_gguf(tmp_path / "b.gguf", context_length=None)) is None
