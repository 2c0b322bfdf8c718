"""The `2021` profile: the stack of the original inframock design (the default).

As in iac's `cf/*.yaml` (hms-dbmi-cellenics/iac, 2021-09-01): DynamoDB tables,
six buckets without an account suffix, and a results topic with HTTP
subscriptions to the API's `/v1` routes.
"""

from __future__ import annotations

from inframock.model.stack import (
    ENVIRONMENT,
    UI_UPLOADS,
    Bucket,
    DataRules,
    Index,
    Stack,
    Subscription,
    Table,
    Topic,
    WORK_QUEUE,
    with_indexes,
)
from inframock.core.settings import Settings

NAME = "2021"


def stack(settings: Settings) -> Stack:
    """The stack the 2021 Cellenics API, UI and worker expect in `development`."""
    env = ENVIRONMENT
    definition = Stack(
        profile=NAME,
        region=settings.region,
        tables=(
            Table(f"experiments-{env}", "experimentId"),
            Table(f"samples-{env}", "experimentId"),
            Table(f"projects-{env}", "projectUuid"),
            Table(f"plots-tables-{env}", "experimentId", "plotUuid"),
        ),
        buckets=(
            Bucket(f"plots-tables-{env}"),
            Bucket(f"cell-sets-{env}"),
            Bucket(f"worker-results-{env}"),
            Bucket(f"processed-matrix-{env}"),
            Bucket(f"biomage-source-{env}", versioned=True, cors=(UI_UPLOADS,)),
            Bucket(f"biomage-originals-{env}", versioned=True, cors=(UI_UPLOADS,)),
        ),
        topic=Topic(
            name=f"work-results-{env}-{settings.sandbox_id}",
            subscriptions=(
                Subscription(f"{settings.api_url}/v1/workResults", "WorkResponse"),
                Subscription(
                    f"{settings.api_url}/v1/pipelineResults", "PipelineResponse"
                ),
                Subscription(f"{settings.api_url}/v1/gem2sResults", "GEM2SResponse"),
            ),
        ),
        queue=WORK_QUEUE,
        data=DataRules(
            table_files=(
                ("mock_experiment*.json", "experiments"),
                ("mock_samples*.json", "samples"),
                ("mock_projects*.json", "projects"),
                ("mock_plots_tables*.json", "plots-tables"),
            ),
            source_file="r.rds.gz",
            matrix_file="processed-matrix.r.rds.gz",
            cell_sets_pattern="mock_cell_sets*.json",
            source_bucket=f"biomage-source-{env}",
            matrix_bucket=f"processed-matrix-{env}",
            cell_sets_bucket=f"cell-sets-{env}",
            # The worker since 2021-04 reads processed-matrix-development.
            source_serves_as_matrix=True,
        ),
        services=("aws", "redis"),
    )
    return with_indexes(
        definition,
        {
            f"samples-{env}": (
                Index(
                    "gsiByProjectAndExperimentID",
                    "projectUuid",
                    "experimentId",
                    included=("samples",),
                ),
            ),
        },
    )
