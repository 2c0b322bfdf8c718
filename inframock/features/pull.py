"""`make pull`: copy an experiment of a real Cellenics environment into the data folder.

This is the one place inframock talks to a non-local endpoint, with the user's
own AWS credentials (and AWS_PROFILE), so every remote client is read-only by
construction: a hook refuses any operation but the few reads a pull needs,
before a request is signed.

The profile (INFRAMOCK_PROFILE) says what is read and written, from its stack's
data: each local bucket name is the remote's with `development` (and the
account `000000000000`, for the `current` profile's suffixed buckets) in place
of the environment (and its account: `--account`, else the credentials' own,
from STS GetCallerIdentity). The files written are exactly what the profile's
loader reads: in the `2021` profile `mock_experiment.json`,
`mock_samples.json`, an empty `mock_plots_tables.json`, and when the remote has
them `mock_projects.json`, `r.rds.gz`, `processed-matrix.r.rds.gz` and
`mock_cell_sets.json`; in the `current` profile, which has no DynamoDB
(experiments live in the environment's Aurora, which a pull does not reach),
`biomage-source.r.rds.gz`, `processed-matrix.r.rds.gz` and
`mock_cell_sets.json`. Numbers stay exact (DynamoDB's decimals are written as
JSON numbers, digit for digit); an item holding sets or binary is written in
DynamoDB's typed JSON, which the loader reads back exactly. The experiment
keeps `meta.pipeline` and `meta.gem2s`: the API in development asks Step
Functions about those executions, and the local endpoint's
`ExecutionDoesNotExist` makes it report them SUCCEEDED (without them it reports
NOT_CREATED and refuses work). Only what changed is written: JSON files whose
bytes differ, and S3 objects whose ETag differs from the last pull's (kept in
the hidden `.pull.json`, which the loader ignores) or whose local copy was
changed. Every file is written to a hidden temporary file in the same folder
and renamed, so the data folder never holds half a file.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import re
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import boto3
from boto3.dynamodb.types import TypeDeserializer
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from inframock.data.digests import file_digest, new_hash
from inframock.data.files import atomic_file
from inframock.core import console
from inframock.core.progress import progress_board
from inframock.aws.clients import DUMMY_CREDENTIALS
from inframock.data.dataset import EXPERIMENT_ID
from inframock.model.profiles import stack_for
from inframock.model.stack import ACCOUNT_ID, ENVIRONMENT, Stack
from inframock.core.settings import Settings
from inframock.core.errors import InframockError

MB = 1024 * 1024
PROGRESS_ABOVE = 8 * MB
SIDECAR = ".pull.json"
ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
ACCOUNT = re.compile(r"[0-9]{12}")
LOCAL_BUCKET = re.compile(rf"(.+)-{ENVIRONMENT}(-{ACCOUNT_ID})?")
"""A bucket of a profile: its base, and whether it carries the account."""

DUMMY_ACCESS_KEY = DUMMY_CREDENTIALS["aws_access_key_id"]
READ_OPERATIONS = frozenset(
    {"Query", "GetItem", "HeadObject", "GetObject", "GetCallerIdentity"}
)
"""Everything a pull may ask of the remote side."""

TRANSFER = TransferConfig(multipart_chunksize=8 * MB, max_concurrency=4)
"""Parts must reach the gzip stream in order: the transfer holds those that
arrive early, so few at a time bound the memory."""


class PullError(InframockError):
    """The pull cannot go on; the message says why and what to do."""


class RemoteWriteRefused(PullError):
    """Something asked the remote side for an operation that is not a read."""


def refuse_writes(model: Any, **_: Any) -> None:
    """botocore `before-call` hook: let only the reads of READ_OPERATIONS through."""
    if model.name not in READ_OPERATIONS:
        raise RemoteWriteRefused(
            f"refusing {model.name} on the remote environment: "
            "`make pull` only reads there"
        )


@dataclasses.dataclass(frozen=True)
class Remote:
    """Read-only clients for another environment's resources."""

    environment: str
    dynamodb: Any
    s3: Any
    where: str
    """The endpoint, or `AWS` for the real thing, for messages."""
    sts: Any = None

    @classmethod
    def connect(cls, settings: Settings, environment: str) -> "Remote":
        """Clients with the user's credentials; the endpoint of INFRAMOCK_PULL_ENDPOINT.

        With no endpoint set this is real AWS: an AWS_ENDPOINT_URL exported by
        `make env` is ignored, so it cannot turn a pull around onto the stack.
        """
        endpoint = settings.pull_endpoint or None
        config = Config(
            retries={"mode": "standard", "max_attempts": 5},
            ignore_configured_endpoint_urls=True,
        )
        try:
            session = boto3.session.Session(region_name=settings.region)
            clients = [
                session.client(service, endpoint_url=endpoint, config=config)
                for service in ("dynamodb", "s3", "sts")
            ]
            credentials = session.get_credentials()
        except ProfileNotFound as err:
            raise PullError(f"{err} (check AWS_PROFILE)") from None
        if credentials is None:
            raise PullError("no AWS credentials found: set AWS_PROFILE, or log in")
        if endpoint is None and credentials.access_key == DUMMY_ACCESS_KEY:
            raise PullError(
                "this shell has inframock's dummy AWS credentials (from `make env`): "
                "pull from a shell without them, or unset AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        for client in clients:
            client.meta.events.register("before-call.*.*", refuse_writes)
        dynamodb, s3, sts = clients
        return cls(environment, dynamodb, s3, where=endpoint or "AWS", sts=sts)

    def account(self) -> str:
        """The account the credentials belong to (STS GetCallerIdentity)."""
        return str(self.sts.get_caller_identity()["Account"])


def remote_bucket(local: str, environment: str, account: str) -> str:
    """The name `environment` (in `account`) gives the profile's bucket `local`:
    `biomage-source-development` → `biomage-source-staging`,
    `biomage-source-development-000000000000` → `biomage-source-staging-<account>`."""
    found = LOCAL_BUCKET.fullmatch(local)
    if found is None:
        raise PullError(f"bucket {local} is not named <base>-{ENVIRONMENT}[-account]")
    base, suffixed = found.group(1), found.group(2)
    return f"{base}-{environment}" + (f"-{account}" if suffixed else "")


def _needs_account(stack: Stack) -> bool:
    """True when the profile's buckets carry the account in their names."""
    return any(name.endswith(f"-{ACCOUNT_ID}") for name in stack.data.buckets)


@dataclasses.dataclass
class PullReport:
    """What one pull wrote (the rest was unchanged) and what it left out."""

    written: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)


def pull(
    settings: Settings, experiment: str, environment: str, account: str = ""
) -> PullReport:
    """Copy `experiment` of `environment` into `BIOMAGE_DATA_PATH/<experiment>/`.

    `account` is the environment's AWS account, for a profile whose bucket
    names carry it ('': the account of the credentials).
    """
    if not EXPERIMENT_ID.fullmatch(experiment):
        raise PullError(f"{experiment!r} is not an experiment id")
    if not ENVIRONMENT_NAME.fullmatch(environment):
        raise PullError(f"{environment!r} is not an environment name (e.g. staging)")
    if account and not ACCOUNT.fullmatch(account):
        raise PullError(f"{account!r} is not an AWS account id (12 digits)")
    stack = stack_for(settings)
    remote = Remote.connect(settings, environment)
    try:
        if _needs_account(stack) and not account:
            account = remote.account()
        where = f"{environment}, account {account}" if account else environment
        console.note(
            f"pulling {experiment} from {where} ({remote.where}) for profile "
            f"{stack.profile}"
        )
        return _pull(
            remote, stack, account, experiment, settings.data_path / experiment
        )
    except ClientError as err:
        raise PullError(f"{environment} ({remote.where}): {_reason(err)}") from None
    except BotoCoreError as err:
        raise PullError(f"{environment} ({remote.where}): {err}") from None


def _pull(
    remote: Remote, stack: Stack, account: str, experiment: str, folder: Path
) -> PullReport:
    data = stack.data

    def source(local: str, key: str) -> S3Object:
        return S3Object(remote_bucket(local, remote.environment, account), key)

    objects = (
        (data.source_file, source(data.source_bucket, f"{experiment}/r.rds")),
        (data.matrix_file, source(data.matrix_bucket, f"{experiment}/r.rds")),
        ("mock_cell_sets.json", source(data.cell_sets_bucket, experiment)),
    )
    report = PullReport()
    if stack.table("experiments") is None:
        _refuse_if_absent(remote, experiment, [s for _, s in objects])
        console.note(
            f"profile {stack.profile} keeps experiments in PostgreSQL, which a pull "
            "does not read: add its rows as sql/<table>.json (see docs/postgres.md)"
        )
    else:
        _pull_documents(remote, experiment, folder, report)
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in objects:
        pulled = _pull_object(remote, obj, folder / name)
        if pulled is not None:
            (report.written if pulled else report.unchanged).append(name)
    return report


def _refuse_if_absent(remote: Remote, experiment: str, objects: list[S3Object]) -> None:
    """PullError (nothing written) when the remote has none of `objects`."""
    for obj in objects:
        try:
            remote.s3.head_object(Bucket=obj.bucket, Key=obj.key)
            return
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey"}:
                raise
    listed = ", ".join(str(obj) for obj in objects)
    raise PullError(
        f"no experiment {experiment} in {remote.environment}: none of {listed}"
    )


def _pull_documents(
    remote: Remote, experiment: str, folder: Path, report: PullReport
) -> None:
    """The experiment's DynamoDB items as the data folder's JSON files."""
    env = remote.environment
    experiments = _items(remote, f"experiments-{env}", experiment)
    if not experiments:
        raise PullError(f"no experiment {experiment} in experiments-{env}")
    samples = _items(remote, f"samples-{env}", experiment)
    folder.mkdir(parents=True, exist_ok=True)
    documents = {
        "mock_experiment.json": items_json(experiments[:1], single=True),
        "mock_samples.json": items_json(samples),
        "mock_plots_tables.json": items_json([]),
    }
    project = _project(remote, experiments[0], samples)
    if project is not None:
        documents["mock_projects.json"] = items_json([project], single=True)
    for name, text in documents.items():
        changed = _write_if_changed(folder / name, text.encode())
        (report.written if changed else report.unchanged).append(name)


def _items(remote: Remote, table: str, experiment: str) -> list[dict[str, Any]]:
    """Every item of `experiment` in `table`, in DynamoDB's typed form."""
    pages = remote.dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="experimentId = :id",
        ExpressionAttributeValues={":id": {"S": experiment}},
        ConsistentRead=True,
    )
    return [item for page in pages for item in page["Items"]]


def _project(
    remote: Remote, experiment: dict[str, Any], samples: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The experiment's project item (typed form), or None with a note if absent.

    Its key is the samples item's `projectUuid`, else the experiment's `projectId`.
    """
    table = f"projects-{remote.environment}"
    named = [s.get("projectUuid", {}) for s in samples] + [
        experiment.get("projectId", {})
    ]
    uuid = next((n["S"] for n in named if n.get("S")), None)
    if uuid is None:
        console.note(
            "no projectUuid in the samples nor projectId in the experiment: "
            "no project to pull"
        )
        return None
    try:
        found = remote.dynamodb.get_item(
            TableName=table, Key={"projectUuid": {"S": uuid}}, ConsistentRead=True
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        console.note(f"no table {table}: the experiment comes without its project")
        return None
    if "Item" not in found:
        console.note(f"no project {uuid} in {table}: skipped")
        return None
    item: dict[str, Any] = found["Item"]
    return item


def items_json(items: list[dict[str, Any]], single: bool = False) -> str:
    """Typed items as a data folder file: one object if `single`, else `records`.

    Plain JSON with exact numbers when it can say everything; DynamoDB's typed
    JSON (binary as base64) when an item holds sets or binary, which plain JSON
    cannot tell from lists and strings.
    """
    if any(_typed_only(value) for item in items for value in item.values()):
        typed = [{k: _json_typed(v) for k, v in item.items()} for item in items]
        document: Any = typed[0] if single else {"records": typed}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    deserialize = TypeDeserializer().deserialize
    plain = [{k: deserialize(v) for k, v in item.items()} for item in items]
    return exact_json(plain[0] if single else {"records": plain})


def _typed_only(value: dict[str, Any]) -> bool:
    """True when a typed value holds a set or binary somewhere."""
    ((kind, inner),) = value.items()
    if kind in ("SS", "NS", "BS", "B"):
        return True
    if kind == "M":
        return any(_typed_only(v) for v in inner.values())
    if kind == "L":
        return any(_typed_only(v) for v in inner)
    return False


def _json_typed(value: dict[str, Any]) -> dict[str, Any]:
    """A typed value as JSON can hold it: binary as base64 text."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {kind: base64.b64encode(inner).decode()}
    if kind == "BS":
        return {kind: [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {kind: {k: _json_typed(v) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_json_typed(v) for v in inner]}
    return value


def exact_json(value: Any) -> str:
    """`value` as indented JSON in which every Decimal keeps all of its digits.

    The json module would turn decimals into floats (0.1 → 0.1000000000000000055…
    in binary); DynamoDB numbers are decimal strings, so they are written as such.
    """
    return "".join(_json_parts(value, "", "$")) + "\n"


def _json_parts(value: Any, indent: str, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        yield from _container(
            "{}",
            indent,
            [
                (f"{json.dumps(k, ensure_ascii=False)}: ", v, f"{path}.{k}")
                for k, v in value.items()
            ],
        )
    elif isinstance(value, list):
        yield from _container(
            "[]", indent, [("", v, f"{path}[{i}]") for i, v in enumerate(value)]
        )
    elif isinstance(value, Decimal):
        yield str(value)
    elif value is None or isinstance(value, (str, bool)):
        yield json.dumps(value, ensure_ascii=False)
    else:
        raise PullError(
            f"{path} is a DynamoDB {type(value).__name__}, which the data folder's "
            "JSON cannot hold"
        )


def _container(
    brackets: str, indent: str, members: list[tuple[str, Any, str]]
) -> Iterator[str]:
    if not members:
        yield brackets
        return
    inner = indent + "  "
    yield brackets[0]
    for index, (prefix, member, path) in enumerate(members):
        yield ("," if index else "") + "\n" + inner + prefix
        yield from _json_parts(member, inner, path)
    yield "\n" + indent + brackets[1]


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it holds exactly that; True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    with atomic_file(path) as stream:
        stream.write(data)
    return True


@dataclasses.dataclass(frozen=True)
class ObjectMark:
    """What the last pull downloaded of an S3 object, and the file it made of it."""

    etag: str
    size: int
    mtime_ns: int
    digest: str


def _pull_object(remote: Remote, source: S3Object, target: Path) -> bool | None:
    """Download `source` into `target` (gzipped if it is a `.gz`) if it changed.

    True if written, False if unchanged, None (with a note) if the remote has no
    such object.
    """
    try:
        head = remote.s3.head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey"}:
            raise
        console.warn(f"no {source}: the experiment comes without {target.name}")
        return None
    mark = _read_marks(target.parent).get(target.name)
    if mark is not None and mark.etag == head["ETag"] and _unchanged(target, mark):
        return False
    digest = _download(remote, source, head, target)
    stat = target.stat()
    mark = ObjectMark(head["ETag"], stat.st_size, stat.st_mtime_ns, digest)
    _save_mark(target, mark)
    console.note(f"{source} → {target} ({console.size(head['ContentLength'])})")
    return True


@dataclasses.dataclass(frozen=True)
class S3Object:
    """A bucket and key, printed as an s3:// URL."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _download(
    remote: Remote, source: S3Object, head: dict[str, Any], target: Path
) -> str:
    """Stream the version `head` describes into `target`; the file's content digest.

    A `.gz` target gets the object through gzip as it arrives (bounded memory);
    big files show progress; `target` appears only once complete.
    """
    size = head["ContentLength"]
    extra = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
    with ExitStack() as stack, atomic_file(target) as raw:
        advance: Callable[[int], None] = _ignore
        if size > PROGRESS_ABOVE:
            board = stack.enter_context(progress_board())
            advance = stack.enter_context(board.track(f"{source}", size, ""))
        digesting = _Digesting(raw)
        with ExitStack() as gzipping:
            sink: _Digesting | gzip.GzipFile = digesting
            if target.suffix == ".gz":
                sink = gzipping.enter_context(
                    gzip.GzipFile(
                        filename="",
                        mode="wb",
                        fileobj=digesting,
                        compresslevel=1,
                        mtime=0,
                    )
                )
            remote.s3.download_fileobj(
                source.bucket,
                source.key,
                _WriteOnly(sink),
                ExtraArgs=extra,
                Callback=advance,
                Config=TRANSFER,
            )
    return digesting.hexdigest()


def _ignore(_: int) -> None:
    pass


def _unchanged(path: Path, mark: ObjectMark) -> bool:
    """True while `path` is the file the last pull wrote (by stat, else by digest)."""
    try:
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) == (mark.size, mark.mtime_ns):
            return True
        return file_digest(path) == mark.digest
    except OSError:
        return False


def _read_marks(folder: Path) -> dict[str, ObjectMark]:
    """The marks of the last pulls, by file name (none if unreadable)."""
    try:
        saved = json.loads((folder / SIDECAR).read_text())
        return {name: ObjectMark(**mark) for name, mark in saved.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save_mark(target: Path, mark: ObjectMark) -> None:
    marks = _read_marks(target.parent)
    marks[target.name] = mark
    document = {name: dataclasses.asdict(m) for name, m in sorted(marks.items())}
    with atomic_file(target.parent / SIDECAR) as stream:
        stream.write(json.dumps(document, indent=2).encode())


class _WriteOnly:
    """Hides a stream's seek/tell: the transfer must then write its parts in order."""

    def __init__(self, stream: _Digesting | gzip.GzipFile) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        """Write through to the wrapped stream."""
        return self._stream.write(data)


class _Digesting:
    """A write-only file that digests what goes through it (no second read)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._digest = new_hash()

    def write(self, data: bytes) -> int:
        """Digest, then write through."""
        self._digest.update(data)
        return self._stream.write(data)

    def flush(self) -> None:
        """Flush the wrapped stream (gzip calls this on close)."""
        self._stream.flush()

    def hexdigest(self) -> str:
        """The content digest (as for loads) of everything written."""
        return self._digest.hexdigest()


def _reason(err: ClientError) -> str:
    error = err.response.get("Error", {})
    operation = getattr(err, "operation_name", "")
    return f"{operation}: {error.get('Code', '')} {error.get('Message', '')}".strip()


def summary(report: PullReport, experiment: str, folder: Path) -> None:
    """Say what a pull did and what to do next."""
    written = ", ".join(report.written) or "nothing (all unchanged)"
    console.note(f"{experiment}: wrote {written} in {folder}")
    if report.written:
        console.note("load it into a running stack with `make reload-data`")
