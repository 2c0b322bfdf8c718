#!/usr/bin/env bash
# The 2021 Cellenics API and worker, their own code, against a fresh inframock stack.
# See docs/cellenics.md for how to get the code and what each check covers.
#
#   API_DIR=...      the API at fa3c99c6 with `npm ci --omit=dev --ignore-scripts` done
#   WORKER_SRC=...   the worker's python/src at 4f84e00f
#   WORKER_PYTHON=.. a python with boto3==1.16.9 botocore==1.19.9 s3transfer==0.3.3
#                    aws-xray-sdk==2.6.0 backoff==1.10.0 requests==2.24.0
#                    python-dateutil==2.8.1 pytz==2020.4
#   REFERENCE_DIR=.. one real 2021 experiment (mock_experiment/samples/plots_tables.json)
#   WORK=...         a scratch folder (default: a new temporary one)
#   AWS_PORT / REDIS_PORT / API_PORT (defaults 45561 45562 45563)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
: "${API_DIR:?}" "${WORKER_SRC:?}" "${WORKER_PYTHON:?}" "${REFERENCE_DIR:?}"
WORK=${WORK:-$(mktemp -d)}
AWS_PORT=${AWS_PORT:-45561}; REDIS_PORT=${REDIS_PORT:-45562}; API_PORT=${API_PORT:-45563}
export INFRAMOCK_RUNTIME=local INFRAMOCK_AWS_PORT=$AWS_PORT INFRAMOCK_REDIS_PORT=$REDIS_PORT \
  INFRAMOCK_STATE_DIR=$WORK/state BIOMAGE_DATA_PATH=$WORK/data BIOMAGE_API_URL=http://localhost:$API_PORT
mkdir -p "$WORK/data" "$WORK/worker/a/b"
"$ROOT/.venv/bin/python" "$HERE/make_data.py" "$REFERENCE_DIR" "$WORK/data"
# the default experiment (r.rds.gz only), written as a fresh clone's `make run` would
"$ROOT/.venv/bin/python" "$ROOT/scripts/make_default_data.py" "$WORK/default" >/dev/null
cp -r "$WORK"/default/*/ "$WORK/data/"

cd "$ROOT"
.venv/bin/python -m inframock run >"$WORK/stack.log" 2>&1 &
STACK=$!
trap 'kill -INT $STACK 2>/dev/null; wait $STACK 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q "inframock is ready" "$WORK/stack.log" && break; sleep 0.1; done
grep -q "inframock is ready" "$WORK/stack.log" || { tail -20 "$WORK/stack.log"; exit 1; }

export API_DIR STACK_ENDPOINT=http://localhost:$AWS_PORT STACK_REDIS_PORT=$REDIS_PORT PORT=$API_PORT \
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_XRAY_CONTEXT_MISSING=LOG_ERROR \
  WORKER_SRC DATA_DIR=$WORK/data SUBMITTED_FLAG=$WORK/submitted
status=0
echo "== API (node $(node --version), aws-sdk $(node -p "require('$API_DIR/node_modules/aws-sdk/package.json').version"))"
(cd "$HERE" && node api_checks.js >"$WORK/api.log" 2>&1) || status=1
grep -E "\[e2e\]" "$WORK/api.log" | sed 's/^\[[^]]*\] //'
echo "== worker"
(cd "$WORK/worker/a/b" && "$WORKER_PYTHON" "$HERE/worker_checks.py" matrix 2>&1) || status=1
echo "== work request: API -> SQS -> worker -> S3 + SNS -> API"
(cd "$HERE" && node work_loop.js >"$WORK/work.log" 2>&1) & NODE=$!
for _ in $(seq 300); do [ -f "$WORK/submitted" ] && break; sleep 0.1; done
(cd "$WORK/worker/a/b" && "$WORKER_PYTHON" "$HERE/worker_checks.py" work 2>&1) || status=1
wait $NODE || status=1
grep -E "\[work\]" "$WORK/work.log" | sed 's/^\[[^]]*\] //'
echo "logs in $WORK; exit $status"
exit $status
