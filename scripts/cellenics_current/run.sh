#!/usr/bin/env bash
# Today's Cellenics API pipeline code (pipelineConstruct + getPipelineStatus) and a stand-in
# pipeline runner against a fresh `current` stack. See README.md beside this file.
#
#   API_DIR=...        today's API checkout with `npm ci --omit=dev --ignore-scripts` done
#   INFRAMOCK_DIR=...  the inframock checkout whose stack to start (default: this one);
#                      its own .venv runs the stack and the stand-in runner
#   INFRAMOCK_PYTHON=. the python to use instead of $INFRAMOCK_DIR/.venv/bin/python (e.g. for
#                      a `git archive` of a commit, run with its worktree's venv)
#   RUNNER=launcher    the stack's launcher starts the runner (INFRAMOCK_PIPELINE_COMMAND)
#   RUNNER=driver      the driver starts it itself once the execution is started
#   QC_SAMPLES (2), QC_TIMEOUT_SECONDS (300), QC_RERUN (1), RUNNER_HEARTBEAT_SECONDS (30),
#   RUNNER_TASK_SECONDS (0), RUNNER_FAIL_TASK (a task name: a failing run instead)
#   WORK=...           a scratch folder (default: a new temporary one)
#   AWS_PORT / REDIS_PORT / PG_PORT (defaults 31661 31662 31663: below the ephemeral range)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${INFRAMOCK_DIR:-$(cd "$HERE/../.." && pwd)}
: "${API_DIR:?the API checkout}"
WORK=${WORK:-$(mktemp -d)}
AWS_PORT=${AWS_PORT:-31661}; REDIS_PORT=${REDIS_PORT:-31662}; PG_PORT=${PG_PORT:-31663}
RUNNER=${RUNNER:-launcher}
PY=${INFRAMOCK_PYTHON:-$ROOT/.venv/bin/python}
STACK_ENDPOINT=http://127.0.0.1:$AWS_PORT
mkdir -p "$WORK/data" "$WORK/state"
chmod 755 "$WORK" "$WORK/state"   # PostgreSQL runs as the state folder's owner or nobody

export INFRAMOCK_PROFILE=current INFRAMOCK_RUNTIME=local INFRAMOCK_AWS_PORT=$AWS_PORT \
  INFRAMOCK_REDIS_PORT=$REDIS_PORT INFRAMOCK_POSTGRES_PORT=$PG_PORT \
  INFRAMOCK_STATE_DIR=$WORK/state BIOMAGE_DATA_PATH=$WORK/data \
  INFRAMOCK_RELAY_DELAYS=${INFRAMOCK_RELAY_DELAYS:-1,2}
if [ "$RUNNER" = driver ]; then
  export INFRAMOCK_PIPELINE_COMMAND=true   # the launcher state succeeds; the driver runs the runner
fi
if [ "$RUNNER" = launcher ]; then
  export INFRAMOCK_PIPELINE_COMMAND="env AWS_ENDPOINT_URL=$STACK_ENDPOINT RUNNER_LOG=$WORK/runner.jsonl RUNNER_FAIL_TASK=${RUNNER_FAIL_TASK:-} RUNNER_HEARTBEAT_SECONDS=${RUNNER_HEARTBEAT_SECONDS:-30} RUNNER_TASK_SECONDS=${RUNNER_TASK_SECONDS:-0} $PY $HERE/pipeline_runner.py"
fi

cd "$ROOT"
"$PY" -m inframock run >"$WORK/stack.log" 2>&1 &
STACK=$!
trap 'kill -INT $STACK 2>/dev/null; wait $STACK 2>/dev/null || true' EXIT
for _ in $(seq 1200); do grep -q "inframock is ready" "$WORK/stack.log" && break; sleep 0.1; done
grep -q "inframock is ready" "$WORK/stack.log" || { tail -30 "$WORK/stack.log"; exit 1; }

echo "== inframock ${INFRAMOCK_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD) ($(git -C "$ROOT" rev-parse --abbrev-ref HEAD))}, API $(git -C "$API_DIR" rev-parse --short HEAD 2>/dev/null || echo "${API_COMMIT:-?}"), node $(node --version), aws-sdk $(node -p "require('$API_DIR/node_modules/aws-sdk/package.json').version"), runner=$RUNNER"
status=0
(cd "$HERE" && API_DIR=$API_DIR STACK_ENDPOINT=$STACK_ENDPOINT STACK_PG_PORT=$PG_PORT \
  RUNNER=$RUNNER RUNNER_PYTHON=$PY RUNNER_LOG=$WORK/runner.jsonl \
  node pipeline_qc.js >"$WORK/driver.log" 2>&1) || status=1
grep -E "^\[qc\]" "$WORK/driver.log" | sed 's/^\[qc\] //'
echo "logs in $WORK (stack.log, driver.log, runner.jsonl); exit $status"
exit $status
