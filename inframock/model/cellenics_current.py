"""The `current` profile: today's Cellenics (API, worker, pipeline of 2026).

Exactly as iac `cf/s3-v2.yaml` and `cf/sns.yaml` define them
(hms-dbmi-cellenics/iac 82a5f771, 2026-07-24): no DynamoDB, 13 buckets
suffixed with the account id, the FIFO work queue, and the `-v2` results topic
whose one subscription is the `sns-endpoint-lambda` relay to the API's `/v2`
routes. The data folder uses the 2023 inframock loader's file names. The
pipeline's two launcher Lambdas exist, run natively by the engine.
"""

from __future__ import annotations

import dataclasses

from inframock.model.stack import (
    ACCOUNT_ID,
    ENVIRONMENT,
    UI_UPLOADS,
    Bucket,
    CorsRule,
    DataRules,
    LifecycleRule,
    PIPELINE_LAUNCHERS,
    Relay,
    RetryPolicy,
    Stack,
    Topic,
    WORK_QUEUE,
)
from inframock.core.settings import Settings

NAME = "current"

UI_SPATIAL = CorsRule("uiSpatialCorsRule", allowed_methods=("GET",))
"""iac's rule for the spatial buckets the UI reads images and molecules from."""

KEEP_OLD_VERSIONS_7_DAYS = LifecycleRule(
    "PreserveThenDeleteNonCurrentVersion", noncurrent_days=7
)
KEEP_OLD_VERSIONS_5_DAYS = LifecycleRule(
    "PreserveThenDeleteNonCurrentVersion", noncurrent_days=5
)

DELIVERY_RETRIES = RetryPolicy(
    min_delay=10,
    max_delay=60,
    retries=56,
    no_delay_retries=0,
    min_delay_retries=2,
    max_delay_retries=16,
)
"""The healthyRetryPolicy of iac's subscription of `sns-endpoint-lambda`."""

RESULT_ROUTES = (
    ("PipelineResponse", "/v2/pipelineResults"),
    ("GEM2SResponse", "/v2/gem2sResults"),
    ("OBJ2SResponse", "/v2/obj2sResults"),
)
"""The Lambda's `pipeline_type_mappings`: message attribute `type` → API path."""


def bucket_name(base: str) -> str:
    """`<base>-development-000000000000`, as iac names every v2 bucket."""
    return f"{base}-{ENVIRONMENT}-{ACCOUNT_ID}"


def _versioned(base: str, *rules: CorsRule) -> Bucket:
    return Bucket(
        bucket_name(base),
        versioned=True,
        cors=rules,
        lifecycle=(KEEP_OLD_VERSIONS_7_DAYS,),
    )


BUCKETS = (
    _versioned("plots-tables"),
    _versioned("cell-sets"),
    _versioned("spatial-images", UI_SPATIAL),
    _versioned("spatial-segmentations", UI_SPATIAL),
    _versioned("spatial-molecules", UI_SPATIAL),
    Bucket(
        bucket_name("worker-results"),
        cors=(UI_UPLOADS,),
        lifecycle=(
            LifecycleRule(
                "DeleteDifferentialExpressionResults",
                expiration_days=2,
                tag=("requestType", "DifferentialExpression"),
            ),
            LifecycleRule("DeleteOldWorkResults", expiration_days=14),
        ),
    ),
    _versioned("processed-matrix"),
    Bucket(
        bucket_name("biomage-pipeline-debug"),
        lifecycle=(LifecycleRule("DeleteObjectAfter10Days", expiration_days=10),),
    ),
    Bucket(
        bucket_name("biomage-source"),
        versioned=True,
        lifecycle=(KEEP_OLD_VERSIONS_5_DAYS,),
    ),
    _versioned("biomage-filtered-cells"),
    Bucket(
        bucket_name("biomage-backups"),
        versioned=True,
        lifecycle=(
            KEEP_OLD_VERSIONS_7_DAYS,
            LifecycleRule("BackupRetentionDays", expiration_days=90),
        ),
    ),
    Bucket(
        bucket_name("biomage-originals"),
        versioned=True,
        cors=(UI_UPLOADS,),
        lifecycle=(KEEP_OLD_VERSIONS_5_DAYS,),
    ),
    _versioned("cellenics-cell-level-metadata", UI_UPLOADS),
)


def stack(settings: Settings) -> Stack:
    """The stack today's Cellenics services expect in `development`."""
    retry = DELIVERY_RETRIES
    if settings.relay_delays is not None:
        retry = retry.scaled(*settings.relay_delays)
    topic = f"work-results-{ENVIRONMENT}-{settings.sandbox_id}-v2"
    return Stack(
        profile=NAME,
        region=settings.region,
        tables=(),
        buckets=BUCKETS,
        topic=Topic(
            name=topic,
            attributes=(("KmsMasterKeyId", "alias/aws/sns"),),
            relay=Relay(
                queue=f"inframock-relay-{topic}"[:80],
                routes=RESULT_ROUTES,
                events_path="/v2/kubernetesEvents",
                retry=retry,
            ),
        ),
        queue=dataclasses.replace(
            WORK_QUEUE,
            attributes=WORK_QUEUE.attributes + (("SqsManagedSseEnabled", "true"),),
        ),
        data=DataRules(
            table_files=(),
            source_file="biomage-source.r.rds.gz",
            matrix_file="processed-matrix.r.rds.gz",
            cell_sets_pattern="mock_cell_sets*.json",
            source_bucket=bucket_name("biomage-source"),
            matrix_bucket=bucket_name("processed-matrix"),
            cell_sets_bucket=bucket_name("cell-sets"),
            source_serves_as_matrix=False,
        ),
        services=("aws", "redis", "relay", "postgres"),
        functions=PIPELINE_LAUNCHERS,
    )
