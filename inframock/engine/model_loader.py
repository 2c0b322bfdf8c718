"""One botocore model loader for the whole engine, made once.

moto loads a service's botocore model on that service's first request with a
new loader each time (`moto.core.utils._load_service_model`), and a new loader
first lists every service botocore knows: about 3,700 `stat` calls, ~20 ms of
the engine's CPU per service (S3, DynamoDB, SQS and SNS at start, IAM, Lambda
and Step Functions on a `current` stack's first requests). One loader lists
them once; it is moto's own loader class, so its `moto-extras` still apply.
moto's first error of each service made a new botocore `Session` to list them
again (to name the service its exception module belongs to): that name now
comes from the same listing. And each service's first backend asked a
boto3 `Session` of moto's own for the service's regions, which that
session's own loader found in the service's model, read a second time: S3's,
DynamoDB's, SQS's and SNS's at start (the engine's start: ~30 ms of CPU and
~2.4 MB more); that session now reads with the one loader too. Patch
`moto-one-model-loader` (inframock.engine.patches.at_start).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import boto3
import botocore.session


@functools.cache
def service_name_of_package(package: str) -> str:
    """moto's `service_name_from_moto_package_name` (`awslambda` is
    `lambda`): its table of botocore's services from the one loader."""
    from moto.core import utils  # pylint: disable=import-outside-toplevel

    names = utils.create_loader().list_available_services("service-2")
    return {name.replace("-", ""): name for name in names}.get(package, package)


def create_loader_once(create_loader: Callable[[], Any]) -> Callable[[], Any]:
    """moto's `create_loader`, called once; its loader for every model after."""
    return functools.cache(create_loader)


@functools.cache
def _session_of_one_loader() -> boto3.session.Session:
    from moto.core import utils  # pylint: disable=import-outside-toplevel

    core = botocore.session.get_session()
    core.register_component("data_loader", utils.create_loader())
    return boto3.session.Session(botocore_session=core)


def _session_for(_backend: type) -> boto3.session.Session:
    """moto's `AccountSpecificBackend.get_session`: one session, made on
    first use as moto's is, whose models come from the one loader."""
    return _session_of_one_loader()


session_for = classmethod(_session_for)
"""In place of moto's classmethod."""
