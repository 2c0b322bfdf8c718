"""The pipeline's two launcher Lambdas, run natively instead of in Docker.

In development the API's state machines start with two `lambda:invoke`
states: `remove-previous-pipeline-containers` (`docker kill` of the pipeline
containers still running) and `local-container-launcher` (`docker run` of the
pipeline runner image, with the activity to poll). The pipeline repository's
local-runner deploys them as python3.8 ZipFile Lambdas
(`local-runner/cf-local-container-launcher.yaml`), which moto can only run in
Docker. Here an Invoke of a function of those names (from a state machine or
through the Lambda API) runs the same handler in the engine:

- with `INFRAMOCK_PIPELINE_COMMAND` set, that command (`/bin/sh -c`) as a child
  of the engine, in a process group of its own, with the environment the
  Lambda gives the container (`ACTIVITY_ARN`, `AWS_DEFAULT_REGION`, `HOST_IP`,
  `DEBUG_STEP`, `DEBUG_PATH`) plus `SANDBOX_ID`, `CLUSTER_ENV`,
  `AWS_ACCOUNT_ID` and an endpoint and dummy credentials for AWS SDKs; its
  output is logged as `pipeline |` lines; removing previous runs, or the engine
  stopping, kills its process group;
- else, with `docker` on PATH, the Lambda's own `docker run` (plus
  `--add-host host.docker.internal:host-gateway`, so Linux containers reach
  the host) and `docker kill`;
- else the invocation fails (a function error, so the state's Catch runs)
  saying what to install or set. Removing previous runs then has nothing to
  remove and succeeds.

The function must exist (provisioned by the `current` profile, or created by
local-runner: moto's CreateFunction of an existing name replaces it).
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

REMOVE = "remove-previous-pipeline-containers"
LAUNCH = "local-container-launcher"
CONTAINER_NAMES = "qc|gem2s|obj2s"
"""The containers `remove-previous-pipeline-containers` kills (its filter)."""
DOCKER_TIMEOUT = 25.0
"""Seconds a docker command may take: the Lambdas' own timeout."""
STOP_GRACE = 3.0
ACCOUNT_ID = "000000000000"


class LaunchError(Exception):
    """The runner cannot be started; the message says what to install or set."""


def function_name(name_or_arn: str) -> str:
    """`local-container-launcher` from a name, a partial or a full ARN."""
    if ":function:" in name_or_arn:
        name_or_arn = name_or_arn.split(":function:", 1)[1]
    return name_or_arn.split(":", 1)[0]


_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
"""libc's prctl, looked up here: between fork and exec, in a copy of a process
with many threads, a lookup (dlopen) could wait for a lock no thread will free."""


def _die_with_parent() -> None:
    """Between fork and exec: SIGTERM this child when the engine dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def log(line: str) -> None:
    """One line on the engine's stderr (the stack relays it to its log)."""
    sys.stderr.write(line + "\n")  # one write: whole lines among other threads
    sys.stderr.flush()


class Launcher:
    """Starts pipeline runners and stops the ones it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: list[subprocess.Popen[bytes]] = []
        self._containers: list[str] = []
        # Children are forked from this one long-lived thread: Linux's
        # parent-death signal follows the thread that forked, and the request
        # thread that asked for the runner ends long before the runner does.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="pipeline-spawner")

    # -- what the two Lambdas do ---------------------------------------------

    def remove_previous(self) -> dict[str, Any]:
        """Kill the runners still running (processes, then containers)."""
        stopped = self.stop_children()
        docker = shutil.which("docker")
        if docker and not os.environ.get("INFRAMOCK_PIPELINE_COMMAND"):
            listed = self._docker(
                [
                    docker,
                    "ps",
                    "-f",
                    f"name={CONTAINER_NAMES}",
                    "--format",
                    "{{.Names}}",
                ]
            )
            names = listed.stdout.decode().split()
            if names:
                self._docker([docker, "kill", *names])
            stopped += len(names)
        return {"removed": stopped}

    def launch(self, event: dict[str, Any]) -> dict[str, Any]:
        """Start a runner for the event's activity; raise LaunchError if none can."""
        command = os.environ.get("INFRAMOCK_PIPELINE_COMMAND", "").strip()
        if command:
            return self._start_command(command, event)
        docker = shutil.which("docker")
        if docker:
            return self._docker_run(docker, event)
        raise LaunchError(
            "inframock cannot start the pipeline runner: install Docker (a `docker` "
            "command on PATH, with the biomage-pipeline-runner image built by the "
            "pipeline repository), or set INFRAMOCK_PIPELINE_COMMAND to a command "
            "that runs it natively (e.g. `cd ../pipeline/pipeline-runner && "
            "Rscript init.R`), then restart the stack"
        )

    # -- the command ----------------------------------------------------------

    def runner_environment(self, event: dict[str, Any], host_ip: str) -> dict[str, str]:
        """What the Lambda passes the container, plus what a native runner needs."""
        port = os.environ.get("MOTO_PORT", "4566")
        return {
            "ACTIVITY_ARN": str(event.get("activityArn", "")),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
            "HOST_IP": host_ip,
            "DEBUG_STEP": os.environ.get("DEBUG_STEP", ""),
            "DEBUG_PATH": os.environ.get("DEBUG_PATH", ""),
            "SANDBOX_ID": os.environ.get("SANDBOX_ID", "default"),
            "CLUSTER_ENV": "development",
            "AWS_ACCOUNT_ID": ACCOUNT_ID,
            "AWS_ENDPOINT_URL": f"http://{host_ip or '127.0.0.1'}:{port}",
            "AWS_ACCESS_KEY_ID": "mock-access-key",
            "AWS_SECRET_ACCESS_KEY": "mock-secure-access-key",
        }

    def _start_command(self, command: str, event: dict[str, Any]) -> dict[str, Any]:
        host_ip = os.environ.get("INFRAMOCK_PIPELINE_HOST_IP") or "127.0.0.1"
        env = {**os.environ, **self.runner_environment(event, host_ip)}
        env.pop("MOTO_PORT", None)
        try:
            child = self._spawner.submit(_spawn, command, env).result()
        except OSError as err:
            raise LaunchError(
                f"INFRAMOCK_PIPELINE_COMMAND cannot start: {err}"
            ) from None
        with self._lock:
            self._children.append(child)
        name = f"{event.get('name', 'pipeline')}"
        log(f"pipeline {name} started (pid {child.pid}): {command}")
        threading.Thread(
            target=self._relay,
            args=(child, name),
            name=f"pipeline-{child.pid}",
            daemon=True,
        ).start()
        return {"pid": child.pid}

    @staticmethod
    def _relay(child: subprocess.Popen[bytes], name: str) -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            log(f"pipeline | {raw.decode('utf-8', 'replace').rstrip()}")
        log(f"pipeline {name} (pid {child.pid}) exited with code {child.wait()}")

    def stop_children(self) -> int:
        """SIGTERM each runner's process group, SIGKILL what is left; how many."""
        with self._lock:
            alive = [c for c in self._children if c.poll() is None]
            self._children = []
        for child in alive:
            _signal_group(child.pid, signal.SIGTERM)
        for child in alive:
            try:
                child.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
        return len(alive)

    # -- Docker ---------------------------------------------------------------

    def _docker(self, command: list[str]) -> subprocess.CompletedProcess[bytes]:
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                timeout=DOCKER_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise LaunchError(f"`{' '.join(command[:2])}` failed: {err}") from None
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip()
            raise LaunchError(f"`{' '.join(command[:2])}` failed: {why}")
        return done

    def _docker_run(self, docker: str, event: dict[str, Any]) -> dict[str, Any]:
        image, name = runner_image(event), runner_name(event)
        suffix = "".join(random.choice(string.ascii_letters) for _ in range(10))
        name = f"{name}-{suffix}"
        host_ip = os.environ.get("INFRAMOCK_PIPELINE_HOST_IP", "")
        env = self.runner_environment(event, host_ip)
        command = [docker, "run", "--rm", "-t", "--name", name]
        command += ["-d"] if event.get("detached") else []
        command += ["--add-host", "host.docker.internal:host-gateway"]
        for key in (
            "ACTIVITY_ARN",
            "AWS_DEFAULT_REGION",
            "HOST_IP",
            "DEBUG_STEP",
            "DEBUG_PATH",
            "SANDBOX_ID",
        ):
            command += ["--env", f"{key}={env[key]}"]
        if env["DEBUG_PATH"]:
            command += ["-v", f"{env['DEBUG_PATH']}:/debug"]
        command.append(image)
        self._docker(command)
        with self._lock:
            self._containers.append(name)
        log(f"pipeline container {name} started")
        return {"container": name}

    def stop_containers(self) -> None:
        """`docker kill` the containers this engine started (best effort)."""
        docker = shutil.which("docker")
        with self._lock:
            names, self._containers = self._containers, []
        if docker and names:
            try:
                subprocess.run(
                    [docker, "kill", *names],
                    capture_output=True,
                    timeout=DOCKER_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                pass


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`/bin/sh -c command` in a process group of its own, dying with the engine."""
    # pylint: disable-next=consider-using-with,subprocess-popen-preexec-fn
    return subprocess.Popen(
        ["/bin/sh", "-c", command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


LAUNCHER = Launcher()


RUNNER_IMAGE = "biomage-pipeline-runner"
"""The one image the launcher runs (what the API's state machines name)."""
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def runner_image(event: dict[str, Any]) -> str:
    """The event's image, if it is the pipeline runner's (any tag); else
    LaunchError. Anyone who reaches the AWS port can invoke the launcher: it
    must not be a way to run any image of their choosing."""
    image = str(event.get("image", RUNNER_IMAGE))
    name, _, tag = image.partition(":")
    if name != RUNNER_IMAGE or (tag and not IMAGE_TAG.fullmatch(tag)):
        raise LaunchError(
            f"refused to run image {image!r}: inframock's launcher starts only "
            f"{RUNNER_IMAGE} (anyone who reaches the AWS port can invoke it)"
        )
    return image


def runner_name(event: dict[str, Any]) -> str:
    """The event's container name, if Docker would take it; else LaunchError."""
    name = str(event.get("name", "pipeline"))
    if not CONTAINER_NAME.fullmatch(name):
        raise LaunchError(f"refused container name {name!r}: letters, digits, _.-")
    return name


def _event(body: Any) -> dict[str, Any]:
    """The invocation's event (its Payload), whatever form it came in."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            body = json.loads(body or "{}")
        except ValueError:
            body = {}
    return body if isinstance(body, dict) else {}


def handle(name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
    """Run the native handler of launcher function `name`; the response payload."""
    try:
        if name == REMOVE:
            result: Any = LAUNCHER.remove_previous()
        else:
            result = LAUNCHER.launch(_event(body))
    except LaunchError as err:
        log(f"pipeline {name}: {err}")
        response_headers["x-amz-function-error"] = "Unhandled"
        result = {"errorType": "PipelineRunnerUnavailable", "errorMessage": str(err)}
    return json.dumps(result).encode()


def stop_runners() -> None:
    """When the engine stops: stop every runner it started."""
    LAUNCHER.stop_children()
    LAUNCHER.stop_containers()


def invoke_native(invoke: Any) -> Any:
    """`LambdaBackend.invoke`, serving the two launcher functions natively."""

    @functools.wraps(invoke)
    def native(  # pylint: disable=too-many-arguments,too-many-positional-arguments
        self: Any,
        name_or_arn: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        name = function_name(name_or_arn)
        if name not in (REMOVE, LAUNCH):
            return invoke(self, name_or_arn, qualifier, body, headers, response_headers)
        self.get_function(name_or_arn, qualifier)  # ResourceNotFound as in AWS
        return handle(name, body, response_headers)

    return native
