"""Drive the 2021 Cellenics worker's own code against a running inframock.

Usage: worker_checks.py matrix|work

Environment: WORKER_SRC (the worker's python/src), STACK_ENDPOINT (the stack's
AWS endpoint), DATA_DIR (the data folder loaded into it). Run it with the
worker's pinned boto3 1.16.9 / botocore 1.19.9 in its own virtualenv, from a
folder two levels below a scratch folder: the worker keeps its files in
`../../data`.

`matrix`: CountMatrix.sync (list_objects_v2 + download_fileobj on
processed-matrix-development) for every experiment in DATA_DIR, then the cell
sets (helpers/s3.py) and experiment attributes (helpers/dynamo.py).
`work`: consume one work request from development-queue.fifo
(consume_message.py) and publish a ClusterCells result big enough to go
through worker-results-development (response.py).
"""

# pylint: disable=import-error,import-outside-toplevel
from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, os.environ["WORKER_SRC"])
os.environ.setdefault("CLUSTER_ENV", "development")


class RWorkerHealth(http.server.BaseHTTPRequestHandler):
    """Stands in for the R worker's /health, which the worker polls after a download."""

    hits = 0

    def do_GET(self) -> None:  # pylint: disable=invalid-name
        """Answer 200 and count the poll."""
        RWorkerHealth.hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"up")

    def log_message(self, *_args: object) -> None:
        """Quiet."""


def configure() -> None:
    """Point the worker's config at the stack: the one patch.

    The worker hardcodes `http://host.docker.internal:4566` in development.
    """
    from worker.config import config

    assert config.BOTO_RESOURCE_KWARGS["endpoint_url"].endswith(":4566")
    config.BOTO_RESOURCE_KWARGS["endpoint_url"] = os.environ["STACK_ENDPOINT"]


def report(good: bool, text: str) -> bool:
    """Print one check's outcome; return it."""
    print(f"{'PASS' if good else 'FAIL'} {text}")
    return good


def expected_sha(folder: Path) -> str:
    """SHA-256 of the r.rds the loader put in processed-matrix for this experiment."""
    for name in ("processed-matrix.r.rds.gz", "r.rds.gz"):
        if (folder / name).exists():
            with gzip.open(folder / name) as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
    return ""


def check_experiment(folder: Path) -> bool:
    """The worker's matrix read, cell sets and DynamoDB reads for one experiment."""
    from worker.config import config
    from worker.helpers.count_matrix import CountMatrix
    from worker.helpers.dynamo import get_item_from_dynamo
    from worker.helpers.s3 import get_cell_sets

    exp = folder.name
    os.environ["EXPERIMENT_ID"] = exp
    matrix = CountMatrix()
    hits = RWorkerHealth.hits
    objects = list(matrix.get_objects())
    matrix.sync()
    data = Path(config.LOCAL_DIR, exp, "r.rds").read_bytes()
    ok = report(
        objects == [f"{exp}/r.rds"]
        and RWorkerHealth.hits == hits + 1
        and hashlib.sha256(data).hexdigest() == expected_sha(folder),
        f"CountMatrix.sync {exp}: {objects}, {len(data)} bytes, as in the data folder",
    )
    again = CountMatrix()
    again.last_fetch = matrix.last_fetch
    hits = RWorkerHealth.hits
    again.sync()
    ok &= report(RWorkerHealth.hits == hits, "a second sync downloads nothing")
    if (folder / "mock_cell_sets.json").exists():
        keys = [c["key"] for c in get_cell_sets(exp)]
        ok &= report(bool(keys), f"get_cell_sets {exp}: {keys}")
    meta = get_item_from_dynamo(exp, "meta")
    ok &= report(bool(meta), f"get_item_from_dynamo {exp} meta: {sorted(meta)}")
    return ok


def check_matrix() -> bool:
    """Every experiment of DATA_DIR, as the worker reads it."""
    import boto3
    import botocore
    from worker.config import config

    health = http.server.HTTPServer(("127.0.0.1", 0), RWorkerHealth)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    config.R_WORKER_URL = f"http://127.0.0.1:{health.server_port}"
    python = sys.version.split()[0]
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, {python}")
    folders = sorted(p for p in Path(os.environ["DATA_DIR"]).iterdir() if p.is_dir())
    results = [
        check_experiment(folder) for folder in folders
    ]  # every one, no short cut
    return all(results)


def do_work() -> bool:
    """Consume one work request and publish a ClusterCells result through S3 and SNS."""
    from worker.consume_message import consume
    from worker.response import Response
    from worker.result import Result

    body = None
    for _ in range(3):
        body = consume()
        if body:
            break
    if not body or body["body"]["name"] != "ClusterCells":
        print(f"FAIL worker consumed {body!r}")
        return False
    print(f"PASS worker consumed {body['uuid']} ({body['body']['name']})")
    children = [
        {
            "key": f"louvain-{k}",
            "name": f"Cluster {k}",
            "color": "#77aadd",
            "cellIds": list(range(k * 6000, (k + 1) * 6000)),
        }
        for k in range(8)
    ]
    cell_set = {
        "key": "louvain",
        "name": "Louvain clusters",
        "rootNode": True,
        "type": "cellSets",
        "children": children,
    }
    result = Result(json.dumps(cell_set))
    Response(body, [result]).publish()
    print(
        f"PASS worker published a {result.get_result_length()}-byte ClusterCells result"
    )
    return True


if __name__ == "__main__":
    configure()
    MODES = {"matrix": check_matrix, "work": do_work}
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    sys.exit(0 if MODES[sys.argv[1]]() else 1)
