"""The Docker deployer, driven through the real ``docker`` SDK against a fake Engine API on a UNIX socket."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

docker = pytest.importorskip("docker")

from autotuner.deploy.base import DeploymentError, LaunchSpec  # noqa: E402
from autotuner.deploy.docker import DockerDeployer, docker_available  # noqa: E402
from autotuner.deploy.docker_images import image_ref, plan_container  # noqa: E402

from .fake_docker_api import FakeDockerEngine  # noqa: E402
from .process_probes import http_status

TOKEN = "hf_doNotLeakThis123"
SGLANG_IMAGE = "lmsysorg/sglang:latest"
VLLM_IMAGE = "vllm/vllm-openai:latest"


@pytest.fixture
def fake():
    with FakeDockerEngine() as engine:
        engine.add_image(SGLANG_IMAGE)  # no entrypoint, like the real image
        engine.add_image(VLLM_IMAGE, entrypoint=["vllm", "serve"])
        for behaviour in ("http_ok", "oom", "crash", "never_ready"):
            engine.add_image(f"test/{behaviour}:1", behaviour=behaviour)
        yield engine


@pytest.fixture
def client(fake):
    api = docker.DockerClient(base_url=fake.base_url)
    yield api
    api.close()


def deployer(tmp_path: Path, client, images: dict | None = None, **kwargs) -> DockerDeployer:
    return DockerDeployer(tmp_path / "logs", "task1", images=images, hf_cache=tmp_path / "hf",
                          client=client, stop_timeout=2, **kwargs)


def sglang_spec(model: str = "Qwen/Qwen2.5-7B", extra: list[str] | None = None) -> LaunchSpec:
    return LaunchSpec("sglang", ["/usr/bin/python3", "-m", "sglang.launch_server", "--model-path", model,
                                 *(extra or [])], model_name=model)




def test_create_parameters(tmp_path, fake, client, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    d = deployer(tmp_path, client, images={"sglang": "test/http_ok:1"}, shm_size="8g")
    with d.deploy(sglang_spec(extra=["--tp", "2"]), "exp-7", gpus=[2, 3], startup_timeout=20) as dep:
        assert http_status(dep.endpoint.base_url, "/health") == 200
        assert dep.log_tail(5) == "server ready"  # live, from the container
        assert dep.gpus == [2, 3] and dep.endpoint.model_name == "Qwen/Qwen2.5-7B"
    call = fake.create_calls[0]
    body, host = call["body"], call["body"]["HostConfig"]
    assert call["name"] == "autotuner-task1-exp-7"
    assert body["Image"] == "test/http_ok:1" and "Entrypoint" not in body
    assert body["Cmd"] == ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-7B",
                           "--tp", "2", "--host", "0.0.0.0", "--port", "8000"]
    assert f"HF_TOKEN={TOKEN}" in body["Env"]
    assert host["DeviceRequests"] == [{"Driver": "", "Count": 0, "DeviceIDs": ["2", "3"],
                                       "Capabilities": [["gpu"]], "Options": {}}]
    assert host["Binds"] == [f"{tmp_path / 'hf'}:/root/.cache/huggingface:rw"]
    assert host["ShmSize"] == 8 * 1024**3 and "IpcMode" not in host
    port = dep.endpoint.base_url.rsplit(":", 1)[1]
    assert host["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}]}
    assert body["Labels"] == {"autotuner.task": "task1", "autotuner.experiment": "exp-7",
                              "autotuner.managed": "true"}
    assert dep.log_tail(1) == "server ready"  # from the saved log once stopped
    log_text = dep.log_path.read_text()
    assert TOKEN not in log_text and '"HF_TOKEN": "***"' in log_text and "server ready" in log_text


def test_local_model_is_mounted_read_only_and_vllm_gets_only_arguments(tmp_path, fake, client):
    model_dir = tmp_path / "weights" / "llama-8b"
    model_dir.mkdir(parents=True)
    spec = LaunchSpec("vllm", ["vllm", "serve", str(model_dir), "--max-num-seqs", "64"],
                      model_name=str(model_dir))
    d = deployer(tmp_path, client, images={"vllm": "test/http_ok:1"}, ipc_host=True)
    with d.deploy(spec, "e1", gpus=[0], startup_timeout=20):
        pass
    body = fake.create_calls[0]["body"]
    assert body["Cmd"] == ["/models/llama-8b", "--max-num-seqs", "64", "--served-model-name", str(model_dir),
                           "--host", "0.0.0.0", "--port", "8000"]
    assert "Entrypoint" not in body  # the image's own `vllm serve`
    assert body["HostConfig"]["Binds"] == [f"{model_dir}:/models/llama-8b:ro"]
    assert body["HostConfig"]["IpcMode"] == "host" and "ShmSize" not in body["HostConfig"]
    assert not any(e.startswith("HF_TOKEN=") for e in body.get("Env") or [])


def test_simulated_engine_command_overrides_the_entrypoint(tmp_path):
    spec = LaunchSpec("vllm", ["/venv/bin/python", "-m", "autotuner.sim", "--personality", "vllm", "--gpu",
                               "h100", "--seed", "0", "org/model", "--max-num-seqs", "8"], model_name="org/model")
    plan = plan_container(spec, "registry/autotuner:1", hf_cache=tmp_path / "hf", environ={})
    assert plan.entrypoint == ["python3", "-m", "autotuner.sim"]
    assert plan.command == ["--personality", "vllm", "--gpu", "h100", "--seed", "0", "org/model",
                            "--max-num-seqs", "8", "--host", "0.0.0.0", "--port", "8000"]
    assert plan.volumes == {str(tmp_path / "hf"): {"bind": "/root/.cache/huggingface", "mode": "rw"}}


@pytest.mark.parametrize("image", [SGLANG_IMAGE, VLLM_IMAGE])
def test_healthy_start_runs_the_simulated_engine_and_tears_down(tmp_path, fake, client, image):
    pytest.importorskip("autotuner.sim.cli")  # the simulated engine
    engine = "sglang" if "sglang" in image else "vllm"
    spec = sglang_spec("Qwen/Qwen3-0.6B") if engine == "sglang" else \
        LaunchSpec("vllm", ["vllm", "serve", "Qwen/Qwen3-0.6B"], model_name="Qwen/Qwen3-0.6B")
    d = deployer(tmp_path, client)  # default images
    dep = d.deploy(spec, "healthy", gpus=[0], startup_timeout=60)
    assert fake.create_calls[0]["body"]["Image"] == image
    assert http_status(dep.endpoint.base_url, "/v1/models") == 200
    pids = fake.alive_processes()
    assert len(pids) == 1
    dep.stop()
    dep.stop()  # idempotent
    assert fake.containers == {} and fake.alive_processes() == []
    assert client.containers.list(all=True) == []
    assert "container output" in dep.log_path.read_text()


def test_crash_at_start_with_oom_output_is_oom(tmp_path, fake, client):
    d = deployer(tmp_path, client, images={"sglang": "test/oom:1"})
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "boom", gpus=[0], startup_timeout=20)
    error = info.value
    assert error.reason == "oom" and "exited with code 1" in error.message
    assert "CUDA out of memory" in error.log_tail and "Loading model weights" in error.log_tail
    assert error.log_path == tmp_path / "logs" / "boom.log" and "CUDA out of memory" in error.log_path.read_text()
    assert fake.containers == {}


def test_crash_is_crash_and_never_shows_the_token(tmp_path, fake, client, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    d = deployer(tmp_path, client, images={"sglang": "test/crash:1"})
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "bad", gpus=[], startup_timeout=20)
    error = info.value
    assert error.reason == "crash" and "unsupported flag" in error.log_tail
    assert "token in env: ***" in error.log_tail
    assert TOKEN not in str(error) and TOKEN not in error.log_path.read_text()
    assert "DeviceRequests" not in fake.create_calls[0]["body"]["HostConfig"]  # no GPUs asked, none requested


def test_readiness_timeout_removes_the_container(tmp_path, fake, client):
    d = deployer(tmp_path, client, images={"sglang": "test/never_ready:1"})
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "slow", gpus=[0], startup_timeout=0.6)
    assert info.value.reason == "timeout" and "loading weights" in info.value.log_tail
    assert fake.containers == {} and fake.alive_processes() == []


def test_cancel_while_starting(tmp_path, fake, client):
    d = deployer(tmp_path, client, images={"sglang": "test/never_ready:1"})
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "c", gpus=[0], startup_timeout=60, cancel=cancel)
    assert info.value.reason == "cancelled" and time.monotonic() - started < 30
    assert fake.containers == {}


def test_missing_image_is_pulled_with_progress_in_the_log(tmp_path, fake, client):
    fake.add_image("lmsysorg/sglang:v0.4.6", behaviour="http_ok", pulled=False)
    d = deployer(tmp_path, client, images={"sglang": image_ref("sglang", "0.4.6")})
    with d.deploy(sglang_spec(), "p", gpus=[0], startup_timeout=20) as dep:
        pass
    text = dep.log_path.read_text()
    assert "# pulling lmsysorg/sglang:v0.4.6" in text and "Pull complete" in text
    assert ("POST", "/images/create") in fake.requests


@pytest.mark.parametrize("how", ["absent", "error_in_stream"])
def test_pull_failure_is_unavailable(tmp_path, fake, client, how):
    if how == "error_in_stream":
        fake.add_image("org/broken:1", behaviour="pull_error", pulled=False)
    d = deployer(tmp_path, client, images={"sglang": "org/broken:1"})
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "x", gpus=[0], startup_timeout=5)
    assert info.value.reason == "unavailable" and "cannot pull image org/broken:1" in info.value.message
    assert fake.create_calls == []


def test_leftover_of_the_same_name_is_replaced(tmp_path, fake, client):
    client.containers.create("test/never_ready:1", name="autotuner-task1-dup",
                             labels={"autotuner.managed": "true", "autotuner.task": "task1"})
    d = deployer(tmp_path, client, images={"sglang": "test/http_ok:1"})
    with d.deploy(sglang_spec(), "dup", gpus=[0], startup_timeout=20):
        assert len(fake.containers) == 1
    assert fake.containers == {}


def test_reap_leftovers_removes_only_managed_containers(tmp_path, fake, client):
    def make(name, labels):
        container = client.containers.create("test/never_ready:1", name=name, labels=labels)
        container.start()

    make("mine", {"autotuner.managed": "true", "autotuner.task": "task1", "autotuner.experiment": "e3"})
    make("other-task", {"autotuner.managed": "true", "autotuner.task": "task2"})
    make("unrelated", {"app": "db"})
    d = deployer(tmp_path, client)
    assert d.reap_leftovers("e4") == []  # one experiment's leftovers only
    reaped = d.reap_leftovers("e3")
    assert len(reaped) == 1 and "mine" in reaped[0] and "experiment e3" in reaped[0]
    assert sorted(c.name for c in fake.containers.values()) == ["other-task", "unrelated"]
    assert len(d.reap_leftovers(all_tasks=True)) == 1
    assert [c.name for c in fake.containers.values()] == ["unrelated"]
    assert len(fake.alive_processes()) == 1


def test_no_docker_engine_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    ok, message = docker_available()
    assert not ok and "cannot reach a Docker Engine" in message and "nothing.sock" in message
    d = DockerDeployer(tmp_path / "logs", "task1")
    with pytest.raises(DeploymentError) as info:
        d.deploy(sglang_spec(), "e", gpus=[0], startup_timeout=5)
    assert info.value.reason == "unavailable" and "DOCKER_HOST" in info.value.message
    assert d.reap_leftovers() == []


def test_docker_available_reports_the_engine(fake, client):
    ok, message = docker_available(client)
    assert ok and "27.0.0-fake" in message


def test_image_references():
    assert image_ref("sglang") == "lmsysorg/sglang:latest"
    assert image_ref("vllm", "0.8.5") == "vllm/vllm-openai:v0.8.5"
    assert image_ref("vllm", "0.8.5", tag="nightly") == "vllm/vllm-openai:nightly"
    assert image_ref("sglang", image="my.registry:5000/sglang") == "my.registry:5000/sglang:latest"
    assert image_ref("sglang", image="my.registry:5000/sglang:dev", tag="v2") == "my.registry:5000/sglang:v2"
    assert image_ref("llamacpp", "5002") == "ghcr.io/ggml-org/llama.cpp:server-cuda-b5002"
    with pytest.raises(ValueError, match="engine: no default Docker image for 'tgi'"):
        image_ref("tgi")


def test_from_task_reads_docker_options(tmp_path):
    task = SimpleNamespace(name="t", engine="vllm", engine_version="0.9.0",
                           docker={"image_tag": "v0.9.0-cu128", "shm_size": "32g", "ipc_host": True})
    d = DockerDeployer.from_task(task, tmp_path)
    assert d.images == {"vllm": "vllm/vllm-openai:v0.9.0-cu128"} and d.shm_size == "32g" and d.ipc_host
    task.docker = {"imagee": "x"}
    with pytest.raises(ValueError, match="docker: unknown option.*imagee.*allowed: image, image_tag"):
        DockerDeployer.from_task(task, tmp_path)
