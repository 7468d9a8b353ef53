"""Property-based API testing from the OpenAPI document: no input gets a 5xx, and replies match it."""

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from autotuner.api.app import create_app
from autotuner.spec import task_from_dict
from autotuner.store import Store

from .api_fakes import task_doc

WORKDIR = Path(tempfile.mkdtemp(prefix="autotuner-schemathesis-"))


def seeded_store() -> Store:
    """A database with a finished task and a few experiments, so generated ids 1..3 hit real rows."""
    store = Store(str(WORKDIR / "db.sqlite"))
    task = task_from_dict(task_doc("seeded"))
    task_id = store.create_task(task.name, task.model_dump(mode="json"), status="succeeded").id
    for i, mrr in enumerate((8, 16, 64)):
        store.add_experiment(task_id, {"max-running-requests": mrr, "chunked-prefill-size": 1024}, i,
                             status="succeeded", metrics={"output_throughput": 100.0 * mrr, "ttft_p90": 0.2},
                             score=100.0 * mrr, levels=[])
    store.add_event(task_id, "task_finished", {"status": "succeeded", "error": None})
    return store


# No embedded worker: created tasks stay queued. Event streams are cut after half a second (a queued
# task's stream would otherwise stay open).
APP = create_app(seeded_store(), workers=0, out_dir=WORKDIR / "runs", stream_seconds=0.5)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api_never_fails_with_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
