"""Every environment variable of inframock, as data: its name, its default, a
one-line help and the longer text `.env.example` shows above it, grouped into
the sections of that file.

`.env.example` is rendered from this list (`make env-example`,
inframock.core.settings_example), so the file and the settings cannot drift apart;
`inframock.core.settings` reads the variables listed here. A few variables are read
by `docker-compose.yml` only (the images and the engine's entry point): they are
listed for the file, with `compose_only`, and inframock itself ignores them.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default and the one line shown in docs."""

    name: str
    default: str
    help: str
    doc: str = ""
    """The comment above it in .env.example; each line of it is one paragraph.
    Empty: the variable shares the comment of the one before it."""
    commented_out: bool = False
    """.env.example shows it commented out: its default depends on the road or
    is the Compose file's, so copying the file as it is changes nothing."""
    example: str = ""
    """The value .env.example shows when not the default (commented out)."""
    compose_only: bool = False
    """Read by docker-compose.yml only, not by inframock."""


@dataclasses.dataclass(frozen=True)
class Section:
    """A group of settings under one heading in .env.example."""

    title: str
    settings: tuple[Setting, ...]


SECTIONS: tuple[Section, ...] = (
    Section(
        "Data",
        (
            Setting(
                "BIOMAGE_DATA_PATH",
                "./data",
                "folder of experiments to load",
                "Folder of experiments to load: one sub-folder per experiment id.",
            ),
            Setting(
                "POPULATE_MOCK",
                "true",
                "load the data folder at start (true/false)",
                "Load the data folder when the stack starts and on "
                "`make reload-data`.",
            ),
            Setting(
                "CLUSTER_ENV",
                "development",
                "data is loaded only in development",
                "Data is loaded only when this is `development` (the Cellenics "
                "services' own setting).",
            ),
        ),
    ),
    Section(
        "The stack",
        (
            Setting(
                "INFRAMOCK_PROFILE",
                "2021",
                "which Cellenics stack to serve: 2021 (original design) or current",
                "Which Cellenics stack to serve: `2021` (the original design: "
                "DynamoDB, six buckets, HTTP subscriptions) or `current` (today's: "
                "13 account-suffixed buckets, the -v2 topic and its result relay to "
                "the API's /v2 routes, and PostgreSQL). The profile also says which "
                "services run, on both roads: on the Docker road `make run` enables "
                "the Compose profiles `relay` and `postgres` for `current` (do not "
                "set COMPOSE_PROFILES for that).",
                commented_out=True,
            ),
            Setting(
                "AWS_DEFAULT_REGION",
                "eu-west-1",
                "region of every ARN and client",
                "Region of every client and ARN (the Cellenics API's default too).",
            ),
            Setting(
                "SANDBOX_ID",
                "default",
                "suffix of the SNS topic name",
                "The results topic is work-results-development-<SANDBOX_ID>.",
            ),
            Setting(
                "BIOMAGE_API_URL",
                "http://localhost:3000",
                "where SNS delivers work and pipeline results",
                "Where SNS delivers worker results: <url>/v1/workResults and "
                "/v1/pipelineResults.\n"
                "Default: http://localhost:3000 on the embedded road and "
                "http://host.docker.internal:3000 on the Docker road, where moto "
                "delivers from its container (there, localhost is the container "
                "itself).",
                commented_out=True,
            ),
        ),
    ),
    Section(
        "Network",
        (
            Setting(
                "INFRAMOCK_BIND",
                "127.0.0.1",
                "address the services listen on (0.0.0.0 exposes them)",
                "Address the services listen on. Loopback by default; 0.0.0.0 (or "
                "the Docker bridge address, e.g. 172.17.0.1) lets Dockerized "
                "Cellenics services on Linux reach the stack, and anyone else who "
                "can reach this machine too.",
            ),
            Setting(
                "INFRAMOCK_AWS_PORT",
                "4566",
                "port of the AWS endpoint",
                "Port of the AWS endpoint (S3, SQS, SNS, DynamoDB).",
            ),
            Setting("INFRAMOCK_REDIS_PORT", "6379", "port of Redis", "Port of Redis."),
        ),
    ),
    Section(
        "Advanced",
        (
            Setting(
                "INFRAMOCK_AWS_ENDPOINT",
                "",
                "endpoint the loader writes to (default: the local AWS port)",
                "Endpoint the loader writes to (default: "
                "http://127.0.0.1:<INFRAMOCK_AWS_PORT>).",
            ),
            Setting(
                "INFRAMOCK_ALLOW_ENDPOINT",
                "",
                "host:port of a non-local endpoint the loader may write to",
                "host:port of a non-local endpoint the loader may write to; without "
                "it the loader refuses anything that is not on this machine (real "
                "AWS included).",
            ),
            Setting(
                "INFRAMOCK_REDIS_SERVER",
                "",
                "redis-server/valkey-server to run (default: PATH, then bundled)",
                "redis-server or valkey-server (7+) to run; default: PATH, then the "
                "bundled one.",
            ),
            Setting(
                "INFRAMOCK_STATE_DIR",
                "./.inframock",
                "where the running stack records its pid and ports",
                "Where a running stack records its pid, ports and versions.",
            ),
            Setting(
                "INFRAMOCK_PERSIST",
                "false",
                "keep the whole state across restarts "
                "(saved on stop, restored at start)",
                "Keep the whole state across restarts (embedded road): every table, "
                "bucket, queue, topic and Redis key is saved in the state folder "
                "when the stack stops and restored when it starts (`make run "
                "PERSIST=1` does the same once). `make clean-state` forgets it. "
                "Default: every start is clean.",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_LOG",
                "ops",
                "aws log: ops (one line per operation), http (access log) or quiet",
                "What the aws service logs (embedded road): ops = one line per AWS "
                "operation (`sqs SendMessage development-queue.fifo → 200 (3 ms)`), "
                "http = the web server's access lines, quiet = neither. The Docker "
                "road's engine logs its own.",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_RDS_LIMIT_MB",
                "16384",
                "largest gunzipped r.rds accepted (stops gzip bombs)",
                "Largest gunzipped r.rds accepted, in MB: a bigger one is refused as "
                "a gzip bomb.",
            ),
            Setting(
                "INFRAMOCK_MAX_TABLE_FILE_MB",
                "500",
                "largest table file (mock_*.json) loaded; bigger ones are refused",
                "Largest table file (mock_*.json), in MB: a bigger one is refused, "
                "named. Table files are streamed a record at a time, so memory does "
                "not grow with this.",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_CACHE_LIMIT_MB",
                "20480",
                "disk the gunzipped r.rds cache (<state>/objects) may use; LRU beyond",
                "Disk, in MB, the cache of gunzipped r.rds files (<state>/objects) "
                "may use; the least recently used go first, never one the running "
                "stack serves.",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_RUNTIME",
                "auto",
                "local, docker, or auto (docker when an engine and Compose answer)",
                "Which road `make run` takes: local (no Docker), docker (Compose) or "
                "auto (Docker when an engine answers and Compose is installed, "
                "otherwise local).",
            ),
            Setting(
                "INFRAMOCK_ENGINE",
                "moto",
                "the AWS engine: moto or ministack (docs/engine.md)",
                "The AWS engine: moto (moto's server with inframock's patches) or "
                "ministack (MiniStack with inframock's patches: in a virtualenv of "
                "its own made on first use, or its image on the Docker road; no "
                "INFRAMOCK_PERSIST or pipeline runs yet). docs/engine.md compares "
                "them.",
                commented_out=True,
            ),
        ),
    ),
    Section(
        "Pull and snapshots",
        (
            Setting(
                "INFRAMOCK_PULL_ENDPOINT",
                "",
                "endpoint `make pull` reads from (empty: real AWS, your credentials)",
                "Endpoint `make pull` reads another environment's experiment from. "
                "Empty: real AWS with your own credentials (and AWS_PROFILE); it "
                "only ever reads there. It reads the buckets of INFRAMOCK_PROFILE "
                "(`current`: suffixed with the environment's account: `make pull "
                "... ACCOUNT=<id>`, default your credentials').",
            ),
            Setting(
                "INFRAMOCK_SNAPSHOT_DIR",
                "./snapshots",
                "where `make snapshot` saves and `make restore` reads snapshots",
                "Folder of `make snapshot NAME=...` snapshots (one sub-folder per "
                "name).",
            ),
        ),
    ),
    Section(
        "Result relay (profile `current`)",
        (
            Setting(
                "INFRAMOCK_RELAY_DELAYS",
                "",
                "min,max seconds between result relay retries (default: iac's 10,60)",
                "min,max seconds between retries of a delivery the API did not take "
                "(56 retries, exponential, as iac's delivery policy). Empty: iac's "
                "10,60. Reaches the Docker road's `relay` container too.",
                commented_out=True,
                example="10,60",
            ),
        ),
    ),
    Section(
        "PostgreSQL (today's Cellenics: aurora_db)",
        (
            Setting(
                "INFRAMOCK_POSTGRES_PORT",
                "5431",
                "port of PostgreSQL",
                "The `current` profile runs PostgreSQL on the embedded road "
                "(127.0.0.1:<port>, database aurora_db, roles api_role and "
                "dev_role); its data lives in <state>/postgres. On the Docker road "
                "the `postgres` container (postgres:16.11), published on the same "
                "port, its data in the project's `pg_data` volume.",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_POSTGRES_BIN",
                "",
                "folder of the postgres binaries to run "
                "(default: PATH, then bundled 16)",
                "Folder of the postgres/initdb binaries; default: `postgres` 14+ on "
                "PATH or in /usr/lib/postgresql/*/bin, then the bundled PostgreSQL "
                "16 (pgserver wheel).",
                commented_out=True,
            ),
            Setting(
                "CELLENICS_IAC_PATH",
                "../iac",
                "iac checkout `make migrate` runs",
                "Checkouts `make migrate` runs Cellenics' knex migrations from.",
                commented_out=True,
            ),
            Setting(
                "CELLENICS_API_PATH",
                "../api",
                "api checkout holding the migrations",
                commented_out=True,
            ),
            Setting(
                "DEV_ACCOUNT",
                "BIOMAGE",
                "the api config's DEV_ACCOUNT for migrations",
                commented_out=True,
            ),
        ),
    ),
    Section(
        "Docker road only (docker-compose.yml)",
        (
            Setting(
                "INFRAMOCK_AWS_IMAGE",
                "motoserver/moto:5.2.5",
                "image of the aws service (Docker road)",
                "Images of the aws and redis services; the defaults are pinned in "
                "the Compose file (INFRAMOCK_ENGINE=ministack sets MiniStack's), so "
                "leave these commented unless you swap engines. A swapped-in engine "
                "must serve the AWS API on 4566.",
                commented_out=True,
                compose_only=True,
            ),
            Setting(
                "INFRAMOCK_REDIS_IMAGE",
                "valkey/valkey:8.1.10-alpine",
                "image of the redis service (Docker road)",
                commented_out=True,
                compose_only=True,
            ),
            Setting(
                "INFRAMOCK_AWS_ENTRYPOINT",
                "python -m inframock.engine 0.0.0.0 4566",
                "what the aws container runs (Docker road)",
                "What the aws container runs: inframock's engine (inframock/engine, "
                "mounted read-only) on the moto image. Another engine's image needs "
                "its own entry point here, e.g. docker-entrypoint.sh for LocalStack.",
                commented_out=True,
                compose_only=True,
            ),
            Setting(
                "LOCALSTACK_AUTH_TOKEN",
                "",
                "your LocalStack auth token (a LocalStack image only)",
                "Only for a LocalStack image: your LocalStack auth token.",
                commented_out=True,
                compose_only=True,
            ),
            Setting(
                "INFRAMOCK_COMPOSE_PROJECT",
                "",
                "Compose project name on the Docker road (default: from the checkout)",
                "Compose project name (containers, network, volume). Default: "
                "derived from this checkout's folder (inframock-<folder>-<hash of "
                "its path>), so two checkouts never share containers; `make status` "
                "names it.",
                commented_out=True,
            ),
        ),
    ),
    Section(
        "Pipeline runs (Step Functions executions; profile `current`)",
        (
            Setting(
                "INFRAMOCK_PIPELINE_COMMAND",
                "",
                "command that runs the pipeline runner natively (default: docker run)",
                "A state machine's `local-container-launcher` step starts the "
                "pipeline runner: this command (run with /bin/sh -c as a child of "
                "the stack, killed when the stack stops or the next run starts; it "
                "gets ACTIVITY_ARN, AWS_DEFAULT_REGION, HOST_IP, SANDBOX_ID, ...), "
                "else `docker run biomage-pipeline-runner` when `docker` is on PATH, "
                "else that step fails saying so.\n"
                "e.g. INFRAMOCK_PIPELINE_COMMAND=cd ../pipeline/pipeline-runner && "
                "Rscript init.R",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_PIPELINE_HOST_IP",
                "",
                "HOST_IP the runner gets (default: 127.0.0.1 native, empty in Docker)",
                "HOST_IP the runner is given (it reaches http://HOST_IP:4566). "
                "Default: 127.0.0.1 for the command, empty in Docker (the runner's "
                "host.docker.internal).",
                commented_out=True,
            ),
            Setting(
                "INFRAMOCK_ACTIVITY_POLL_SECONDS",
                "60",
                "how long GetActivityTask waits for a task (AWS: 60)",
                "Seconds GetActivityTask waits for a task before answering an empty "
                "token (AWS: 60; the runner quits on an empty token).",
                commented_out=True,
            ),
        ),
    ),
)

SETTINGS: tuple[Setting, ...] = tuple(
    setting
    for section in SECTIONS
    for setting in section.settings
    if not setting.compose_only
)
"""Every setting inframock reads (inframock.core.settings)."""
