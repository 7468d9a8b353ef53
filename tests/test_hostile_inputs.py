"""Every hostile or malformed task file is refused by `autotuner validate` with exit 2 and the field named."""

import pytest
from typer.testing import CliRunner

from autotuner.cli.main import app

from .hostile_cases import CASES


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name, content, word", CASES, ids=[c[0] for c in CASES])
def test_refused_with_exit_2_naming_the_field(tmp_path, name, content, word):
    path = tmp_path / ("task.json" if name.startswith("JSON") else "task.yaml")
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert word.lower() in result.output.lower(), result.output[-2000:]
    assert "Traceback" not in result.output
