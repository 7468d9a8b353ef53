"""Every shipped example validates against the catalog of the engine version it names (a flag
renamed by an engine release must not ship broken)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autotuner.cli.main import app

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path):
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
