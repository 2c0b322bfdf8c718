"""The registry of the engine's changes to moto (inframock/engine/patches/).

A moto upgrade that changes code a patch replaces or relies on fails
`test_every_tripwire_holds_on_the_installed_moto`, naming the patch and the
place; a module that changes moto without registering the change fails
`test_nothing_changes_moto_outside_the_registry`.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from inframock.engine import patches, patching
from inframock.testing.harness import base_env, cli

ROOT = Path(__file__).resolve().parents[2]

SCAN = """
import inspect, json, sys
from pathlib import Path
import inframock
from inframock.engine import patches, patching

patches.apply_all(patches.START)
patches.apply_all(patches.STEPFUNCTIONS)
patches.apply_all(patches.LAUNCHER)
OURS = str(Path(inframock.__file__).parent)

def ours(value):
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return any(ours(f) for f in (value.fget, value.fset, value.fdel) if f)
    code = getattr(value, "__code__", None) if inspect.isfunction(value) else None
    if code is not None:
        return code.co_filename.startswith(OURS)
    kind = value if isinstance(value, type) else type(value)
    return str(getattr(kind, "__module__", "")).startswith("inframock.")

found = set()
for name, module in list(sys.modules.items()):
    if name != "moto" and not name.startswith("moto."):
        continue
    for attribute, value in list(vars(module).items()):
        if ours(value):
            found.add((name, attribute))
        if isinstance(value, type) and value.__module__ == name:
            for inner, member in list(vars(value).items()):
                if ours(member):
                    found.add((name, f"{attribute}.{inner}"))
unchanged = [
    str(change.target)
    for patch in patches.PATCHES
    for change in patch.changes
    if patching.moto_value(change.target) is patching.value_at(change.target)
]
print(json.dumps({"found": sorted(found), "unchanged": unchanged}))
"""
"""Apply every patch, then list each place of moto that holds inframock's
code, and each registered place that still holds moto's own."""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_tripwire_holds_on_the_installed_moto() -> None:
    """When this fails, moto changed code a patch depends on: review the
    patch it names (its module's docstring says what it fixes), then record
    the new fingerprint and moto release in inframock/engine/patches/."""
    tripped = patching.broken(patches.PATCHES)
    assert not tripped, "\n".join(str(trip) for trip in tripped)


def test_a_changed_moto_source_trips_its_patch_by_name() -> None:
    """A fingerprint that is not moto's (as after an upgrade) is reported with
    the patch's name and the place."""
    patch = next(p for p in patches.PATCHES if p.name == "sqs-fifo-dedup")
    change = patch.changes[0]
    moved = dataclasses.replace(
        change, target=dataclasses.replace(change.target, checked="0123456789ab")
    )
    tripped = patching.broken([dataclasses.replace(patch, changes=(moved,))])
    assert [str(trip) for trip in tripped] == [
        f"patch sqs-fifo-dedup: moto changed moto.sqs.models.Queue.add_message "
        f"(fingerprint {change.target.checked}, checked 0123456789ab against "
        f"moto {patching.MOTO}); review inframock's patch before trusting it"
    ]


def test_a_place_moto_no_longer_has_trips_its_patch() -> None:
    """A replaced method moto renamed away is a broken tripwire, not a crash."""
    patch = next(p for p in patches.PATCHES if p.name == "sqs-depth")
    gone = patching.Source("moto.sqs.models", "SQSBackend.no_such_method", "x")
    tripped = patching.broken([dataclasses.replace(patch, changes=(), reads=(gone,))])
    assert [(t.patch.name, t.source, t.found) for t in tripped] == [
        ("sqs-depth", gone, patching.ABSENT)
    ]


def test_the_engine_warns_of_broken_tripwires_on_another_moto() -> None:
    """On a moto the patches were not checked against, applying them first
    logs each tripwire that no longer holds, naming the patch."""
    code = """
import dataclasses
from inframock.engine import patches, patching
patch = patches.START[0]
change = patch.changes[1]
moved = dataclasses.replace(change.target, checked="0123456789ab")
patch = dataclasses.replace(
    patch, changes=(patch.changes[0], dataclasses.replace(change, target=moved))
)
patching.apply_checked([patch], "9.9.9")
patching.apply_checked(patches.START[1:], patching.MOTO)
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: patch sns-async-delivery: moto changed "
        "moto.sns.models.Subscription.publish (fingerprint "
        f"{patches.START[0].changes[1].target.checked}, checked 0123456789ab "
        f"against moto {patching.MOTO}); review inframock's patch before trusting it"
    ]


def test_nothing_changes_moto_outside_the_registry() -> None:
    """After every patch is applied, each place of moto holding inframock's
    code is a registered change (and each registered change is there)."""
    done = _run(SCAN)
    assert done.returncode == 0, done.stderr
    scanned = json.loads(done.stdout)
    found = {tuple(place) for place in scanned["found"]}
    registered = {
        (change.target.module, change.target.attribute)
        for patch in patches.PATCHES
        for change in patch.changes
    }
    assert (
        not found - registered
    ), f"moto changed outside inframock/engine/patches/: {found - registered}"
    assert not scanned["unchanged"]


def test_the_registry_names_each_patch_once_in_a_defined_order() -> None:
    """Names are unique; where two patches change one place, the lock of
    `sqs-one-lock` comes after (around) `sqs-fifo-dedup`."""
    names = [patch.name for patch in patches.PATCHES]
    assert len(names) == len(set(names))
    assert names.index("sqs-fifo-dedup") < names.index("sqs-one-lock")


def test_engine_patches_lists_every_patch_on_one_line(tmp_path: Path) -> None:
    """`inframock engine patches`, with no stack running, at 80 columns: one
    line per patch with its name, what it fixes and its moto release."""
    done = cli(base_env(tmp_path, COLUMNS="80"), "engine", "patches")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for patch in patches.PATCHES:
        row = [line for line in lines if line.split()[:1] == [patch.name]]
        assert len(row) == 1, (patch.name, lines)
        assert row[0].split()[1] == patch.release
        assert patch.fixes in row[0]
    assert f"{len(patches.PATCHES)} patches" in done.stdout


def test_engine_patches_check_passes_on_the_installed_moto(tmp_path: Path) -> None:
    """`--check` says every tripwire holds, with their number."""
    done = cli(base_env(tmp_path), "engine", "patches", "--check")
    assert done.returncode == 0, done.stderr
    sources = sum(len(patch.sources()) for patch in patches.PATCHES)
    assert f"all {sources} tripwires hold on moto {patching.MOTO}" in done.stdout


def test_engine_patches_check_names_what_moto_changed() -> None:
    """`--check` on a moto that changed a place a patch relies on: one
    `error:` line naming the patch and the place, exit status 1."""
    code = """
import dataclasses
from inframock import cli
from inframock.engine import patches
patch = patches.PATCHES[1]
moved = dataclasses.replace(patch.changes[0].target, checked="0123456789ab")
patches.PATCHES = (dataclasses.replace(patch, changes=(), reads=(moved,)),)
cli.cli(["engine", "patches", "--check"], prog_name="inframock")
"""
    done = _run(code)
    assert done.returncode == 1, (done.stdout, done.stderr)
    errors = [line for line in done.stdout.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stdout
    assert (
        "patch sqs-fifo-dedup: moto changed moto.sqs.models.Queue.add_message"
        in errors[0]
    )


def test_each_patch_applies_once() -> None:
    """Applying a stage again (two first requests at once: Step Functions,
    which brings the launcher, and Lambda) wraps nothing twice:
    `Queue.add_message` stays moto's inside de-dup inside the lock,
    `LambdaBackend.invoke` moto's inside the launcher's."""
    code = """
import threading
from moto.awslambda import models as lambdas
from moto.sqs import models
from inframock.engine import patches, stepfunctions
moto_add, moto_invoke = models.Queue.add_message, lambdas.LambdaBackend.invoke
patches.apply_all(patches.START)
patches.apply_all(patches.START)
both = [threading.Thread(target=stepfunctions.install_for, args=(service,))
        for service in ("stepfunctions", "awslambda", "stepfunctions")]
for thread in both:
    thread.start()
for thread in both:
    thread.join()
print(models.Queue.add_message.__wrapped__.__wrapped__ is moto_add,
      lambdas.LambdaBackend.invoke.__wrapped__ is moto_invoke)
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert not done.stderr, done.stderr
    assert done.stdout.split() == ["True", "True"]


SEEN_AT_QUEUEING = """
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager
from moto.stepfunctions.parser.backend.activity import Activity
from inframock.engine import patches

if PATCHED:
    patches.apply_all(patches.START)
    patches.apply_all(patches.STEPFUNCTIONS)

class Watched(Activity):
    '''Records, as a woken worker would look, whether the endpoint is there.'''
    def add_task(self, task):
        print(pool.get(task.task_token) is not None)
        super().add_task(task)

arn = "arn:aws:states:eu-west-1:000000000000:activity:a"
pool = CallbackPoolManager(activity_store={arn: Watched(arn=arn, name="a")})
pool.add_activity_task("token-1", arn, "{}")
print(pool.get("token-1") is not None)
"""
"""A CallbackPoolManager queueing one task (with every patch if PATCHED):
whether a worker woken by the queueing would find the task's endpoint, and
whether it is there afterwards (engine/stepfunctions/callbacks.py)."""


def _printed(script: str, patched: bool) -> list[str]:
    """What `script` prints, run with PATCHED set."""
    done = _run(f"PATCHED = {patched}\n" + script)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_queued_activity_task_already_has_its_endpoint() -> None:
    """A long poll wakes the moment a task is queued: its endpoint must be
    there by then, or the poll drops the task and the execution never ends."""
    assert _printed(SEEN_AT_QUEUEING, patched=True) == ["True", "True"]


def test_moto_still_queues_the_task_before_its_endpoint() -> None:
    """When this fails, moto registers first: drop callbacks.py and its change."""
    assert _printed(SEEN_AT_QUEUEING, patched=False) == ["False", "True"]


ANSWERED_FIRST = """
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint, CallbackOutcomeSuccess)
from inframock.engine import patches

if PATCHED:
    patches.apply_all(patches.START)
    patches.apply_all(patches.STEPFUNCTIONS)

endpoint = CallbackEndpoint(callback_id="token-1")
endpoint.notify(CallbackOutcomeSuccess(callback_id="token-1", output="{}"))
heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=1)
print(heartbeat.clear_and_wait())
"""
"""A task answered before the interpreter set up its heartbeat (with every patch
if PATCHED): whether the interpreter's first wait for a heartbeat wakes, where
it reads the answer, or times out (engine/stepfunctions/callbacks.py)."""


def test_an_answer_before_the_heartbeat_setup_wakes_the_interpreter() -> None:
    """R beats and answers a quick step at once: that answer must end the task,
    not wait out HeartbeatSeconds and fail it."""
    assert _printed(ANSWERED_FIRST, patched=True) == ["True"]


def test_moto_still_misses_an_answer_before_the_heartbeat_setup() -> None:
    """When this fails, moto reads the answer first: drop `sfn-early-answer`."""
    assert _printed(ANSWERED_FIRST, patched=False) == ["False"]


BATCH_IMPORTS = """
import json, sys
import moto
if "HOW" == "deferred":
    from inframock.engine.stepfunctions import deferred_batch
    deferred_batch.defer()
import moto.stepfunctions.parser.models
seen = {"ec2_at_interpreter": "moto.ec2" in sys.modules}
from moto.batch import batch_backends
seen["batch_backends"] = type(batch_backends).__name__
print(json.dumps(seen))
"""


def _batch_imports(how: str) -> dict[str, object]:
    done = _run(BATCH_IMPORTS.replace("HOW", how))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_deferred_batch_keeps_ec2_out_of_the_interpreter_and_batch_whole() -> None:
    """Patch sfn-batch-deferred: with it the interpreter imports without EC2,
    and moto's Batch still has its backends on first use."""
    assert _batch_imports("deferred") == {
        "ec2_at_interpreter": False,
        "batch_backends": "BackendDict",
    }


def test_plain_moto_still_imports_ec2_with_its_interpreter() -> None:
    """When this fails, moto's interpreter no longer pulls in Batch and EC2:
    remove inframock/engine/stepfunctions/deferred_batch.py and its patch."""
    assert _batch_imports("plain")["ec2_at_interpreter"] is True


FIRST_LAMBDA = """
import json, sys
from moto.awslambda import models as lambdas
from inframock.engine import patches, server
moto_invoke = lambdas.LambdaBackend.invoke
patches.apply_all(patches.START)
server.backend_app("awslambda")
print(json.dumps({
    "interpreter": "moto.stepfunctions.parser.models" in sys.modules,
    "launcher": lambdas.LambdaBackend.invoke.__wrapped__ is moto_invoke,
}))
"""


def test_the_first_lambda_request_brings_the_launcher_not_the_interpreter() -> None:
    """The `current` profile's provisioning makes Lambda functions at every
    start: that needs the launcher, not moto's state machine interpreter (a
    quarter of a second and about 30 MB until the first state machine)."""
    done = _run(FIRST_LAMBDA)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"interpreter": False, "launcher": True}


LOADERS = """
import botocore.loaders
from moto.core import utils
from inframock.engine import patches

if PATCHED:
    patches.apply_all(patches.START)
made = []
init = botocore.loaders.Loader.__init__
def counted(self, *args, **kwargs):
    made.append(self)
    init(self, *args, **kwargs)
botocore.loaders.Loader.__init__ = counted
utils._load_service_model("iam", "service-2")
utils._load_service_model("lambda", "service-2")
assert utils.service_name_from_moto_package_name("cognitoidp") == "cognito-idp"
from moto.core.base_backend import AccountSpecificBackend
assert "eu-west-1" in AccountSpecificBackend.get_session().get_available_regions("sqs")
print(len(made))
"""
"""How many botocore loaders moto makes to load two service models, name
the service of an exception's package, as its first error of a service does,
and list a service's regions, as its first backend of a service does (with
every patch if PATCHED)."""


def test_service_models_share_one_loader() -> None:
    """Each new loader lists every botocore service first (~20 ms each)."""
    assert _printed(LOADERS, patched=True) == ["1"]


def test_moto_still_makes_a_loader_per_model() -> None:
    """When this fails, moto keeps its loader: drop `moto-one-model-loader`."""
    assert _printed(LOADERS, patched=False) == ["4"]


PARSED_ONCE = """
import io, json
import botocore.session
from inframock.engine import aws_refusals, patches
from moto.core.parse import JSONParser

if PATCHED:
    patches.apply_all(patches.START)
model = botocore.session.get_session().get_service_model("dynamodb")
parser = JSONParser(model.operation_model("Scan"))
calls = []
loads = json.loads
def counted(*args, **kwargs):
    calls.append(1)
    return loads(*args, **kwargs)
json.loads = counted
refused = aws_refusals.AwsRefusals(
    lambda environ, start: [json.dumps(
        parser._parse_body_as_json(environ["wsgi.input"].read())
    ).encode()]
)
body = b'{"TableName": "t", "Limit": 1}'
environ = {
    "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Scan",
    "CONTENT_TYPE": "application/x-amz-json-1.0",
    "CONTENT_LENGTH": str(len(body)),
    "wsgi.input": io.BytesIO(body),
}
answer = b"".join(refused(environ, lambda *a: None))
print(len(calls), json.loads(answer) == json.loads(body))
"""
"""How often a checked request's JSON body is parsed on its way to moto's
parser (with every patch if PATCHED), and whether moto got its value."""


def test_a_checked_json_body_is_parsed_once() -> None:
    """AwsRefusals parses a JSON body to check it; moto's parser takes that
    value (a DynamoDB load's bodies are megabytes: ~0.08 s of the default
    experiment's load)."""
    assert _printed(PARSED_ONCE, patched=True) == ["1", "True"]


def test_unpatched_the_body_is_parsed_twice() -> None:
    """What `json-parsed-once` is for: the check and moto each parse it."""
    assert _printed(PARSED_ONCE, patched=False) == ["2", "True"]


LISTINGS = """
import os
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from inframock.engine import patches

if PATCHED:
    patches.apply_all(patches.START)
listed = []
listdir = os.listdir
def counted(path):
    listed.append(path)
    return listdir(path)
os.listdir = counted
dispatcher = DomainDispatcherApplication(create_app=None)
for host in ("127.0.0.1:4566", "sqs.eu-west-1.amazonaws.com", "s3"):
    dispatcher.get_backend_for_host(host)
print(len(listed), dispatcher.get_backend_for_host("s3"))
"""
"""How often moto lists its own folder to route three requests by their
`Host` (with every patch if PATCHED)."""


def test_moto_lists_its_packages_once() -> None:
    """Each listing `stat`s ~170 entries under the dispatch lock (~0.35 ms)."""
    assert _printed(LISTINGS, patched=True) == ["1", "s3"]


def test_moto_still_lists_its_packages_per_request() -> None:
    """When this fails, moto keeps its listing: drop `moto-modules-once`."""
    assert _printed(LISTINGS, patched=False) == ["3", "s3"]
