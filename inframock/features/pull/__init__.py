"""`make pull`: copy an experiment of a real Cellenics environment into the data folder.

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

Reading the other environment, read-only, is `remote`; writing the data
folder is `documents` (DynamoDB items as JSON files) and `objects` (S3
objects as files); this module puts them together and says what a pull did.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from inframock.core import console
from inframock.core.settings import Settings
from inframock.data.dataset import EXPERIMENT_ID
from inframock.features.pull.documents import pull_documents
from inframock.features.pull.objects import S3Object, pull_object
from inframock.features.pull.remote import PullError, Remote, reason, remote_bucket
from inframock.model.profiles import stack_for
from inframock.model.stack import ACCOUNT_ID, Stack

ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
ACCOUNT = re.compile(r"[0-9]{12}")


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
        raise PullError(f"{environment} ({remote.where}): {reason(err)}") from None
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
        for name, written in pull_documents(remote, experiment, folder).items():
            (report.written if written else report.unchanged).append(name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in objects:
        pulled = pull_object(remote, obj, folder / name)
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


def summary(report: PullReport, experiment: str, folder: Path) -> None:
    """Say what a pull did and what to do next."""
    written = ", ".join(report.written) or "nothing (all unchanged)"
    console.note(f"{experiment}: wrote {written} in {folder}")
    if report.written:
        console.note("load it into a running stack with `make reload-data`")
