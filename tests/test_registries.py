"""Each name list is one registry: registering an entry is all it takes for a task to name it, and
an unknown name is refused with the registry's names."""

import pytest

from autotuner.bench.api_kinds import API_KINDS
from autotuner.deploy.registry import DEPLOYERS
from autotuner.engines import ENGINES, EngineAdapter, get_adapter, register
from autotuner.hardware.gpus import GPU, GPUS, get_gpu, register_gpu
from autotuner.search.strategies import STRATEGIES
from autotuner.spec import SpecError, task_from_dict


class ToyEngine(EngineAdapter):
    name = "toy"
    needs_nvidia_gpu = False

    def executable(self) -> list[str]:
        return ["toy-serve"]

    def model_args(self, model_id: str, served_name: str) -> list[str]:
        return ["--model", model_id]


def doc(**overrides):
    return {"name": "t", "model": "m", "engine": "sglang",
            "search": {"strategy": "grid", "space": {"max-running-requests": [8, 16]}},
            "objective": {"maximize": "output_throughput"}, **overrides}


@pytest.fixture
def toy_engine():
    register("toy", ToyEngine)
    yield
    ENGINES.unregister("toy")


def test_a_registered_engine_is_a_valid_task_engine(toy_engine):
    task = task_from_dict(doc(engine="toy"))
    assert task.engine == "toy"
    spec = get_adapter("toy").launch_spec(task.model.id, task.model.name, {"max-running-requests": 8})
    assert spec.argv[:3] == ["toy-serve", "--model", "m"] and "--max-running-requests" in spec.argv


def test_an_unregistered_engine_is_refused_naming_the_registered_ones():
    with pytest.raises(SpecError) as err:
        task_from_dict(doc(engine="toy"))
    message = str(err.value)
    assert "engine" in message and "toy" in message
    assert all(repr(name) in message for name in ENGINES)
    with pytest.raises(ValueError, match="unknown engine 'toy'; allowed: 'sglang', 'vllm', 'llamacpp'"):
        get_adapter("toy")


def test_a_registered_gpu_can_be_simulated():
    toy = GPU("toy80", "Toy 80GB", 80 * 1024**3, 100.0, None, 1000.0, 100.0, 10e-6, "PCIe")
    register_gpu(toy)
    try:
        task = task_from_dict(doc(simulate={"gpu": "toy80"}))
        assert task.simulate.gpu == "toy80" and get_gpu("TOY80") is toy
    finally:
        GPUS.unregister("toy80")
    with pytest.raises(SpecError, match="simulate.gpu.*'h100'"):
        task_from_dict(doc(simulate={"gpu": "toy80"}))


@pytest.mark.parametrize("field, value, registry", [
    ("deployment", "slurm", DEPLOYERS), ("api", "embeddings", API_KINDS)])
def test_other_name_fields_are_checked_against_their_registry(field, value, registry):
    with pytest.raises(SpecError) as err:
        task_from_dict(doc(**{field: value}))
    assert field in str(err.value) and all(repr(name) in str(err.value) for name in registry)


def test_a_registered_strategy_builds_its_sampler():
    import optuna

    STRATEGIES.register("always-random", lambda search, n: optuna.samplers.RandomSampler(seed=search.seed))
    try:
        task = task_from_dict(doc(search={"strategy": "always-random", "space": {"x": [1, 2]}}))
        from autotuner.search.strategies import make_sampler
        assert isinstance(make_sampler(task.search), optuna.samplers.RandomSampler)
    finally:
        STRATEGIES.unregister("always-random")
    with pytest.raises(SpecError, match="search.strategy.*'bayesian'"):
        task_from_dict(doc(search={"strategy": "always-random", "space": {"x": [1, 2]}}))
