/* The 2021 API's work path: handleWorkRequest -> SQS (worker consumes, publishes) -> /v1/workResults
 * -> WorkResponseService (s3-path getObject, ClusterCells rewrites the 1.3 MB cell sets). */
const assert = require('assert');
const http = require('http');
const path = require('path');
const { AWS } = require('./preload');

const API = process.env.API_DIR; // the API's checkout, with node_modules
const EXP = 'e52b39624588791a7889e39c617f669e';
const { Namespace } = require(path.join(API, 'node_modules/socket.io/dist/namespace'));
const emitted = [];
const origEmit = Namespace.prototype.emit;
Namespace.prototype.emit = function emit(ev, ...args) {
  if (String(ev).startsWith('ExperimentUpdates-') || String(ev).startsWith('WorkResponse-')) emitted.push({ ev, payload: args[0] });
  return origEmit.call(this, ev, ...args);
};
const getHealth = (port) => new Promise((resolve) => {
  http.get(`http://127.0.0.1:${port}/v1/health`, (res) => { res.resume(); resolve(res.statusCode); }).on('error', () => resolve(0));
});

async function main() {
  require(path.join(API, 'src/app.js'));
  for (let i = 0; i < 200 && (await getHealth(process.env.PORT)) !== 200; i += 1) await new Promise((r) => setTimeout(r, 100));
  const AWSXRay = require(path.join(API, 'node_modules/aws-xray-sdk'));
  const ExperimentService = require(path.join(API, 'src/api/route-services/experiment'));
  const handleWorkRequest = require(path.join(API, 'src/api/event-services/work-request'));
  const experiments = new ExperimentService();

  // A pulled experiment keeps its QC run's ARN; the API then asks Step Functions about it.
  await experiments.saveQCHandle(EXP, {
    stateMachineArn: 'arn:aws:states:eu-west-1:242905224710:stateMachine:biomage-qc-staging-abc',
    executionArn: 'arn:aws:states:eu-west-1:242905224710:execution:biomage-qc-staging-abc:exec-1',
  });
  const workRequest = {
    uuid: '0a2b4c6d-1e3f-4a5b-8c7d-9e0f1a2b3c4d',
    socketId: 'broadcast',
    experimentId: EXP,
    timeout: new Date(Date.now() + 300000).toISOString(),
    body: { name: 'ClusterCells', cellSetName: 'Louvain clusters', type: 'louvain', cellSetKey: 'louvain', config: { resolution: 0.5 } },
  };
  const socketEmits = [];
  const socket = { id: 'local-socket', emit: (ev, p) => socketEmits.push({ ev, p }) };
  const segment = new AWSXRay.Segment('API-development-default');
  await AWSXRay.getNamespace().runPromise(async () => {
    AWSXRay.capturePromise();
    AWSXRay.setSegment(segment);
    await handleWorkRequest(workRequest, socket);
  });
  console.log('[work] SUBMITTED (handleWorkRequest resolved, QC status accepted)', JSON.stringify(socketEmits));
  require('fs').writeFileSync(process.env.SUBMITTED_FLAG, 'yes');
  for (let i = 0; i < 1200 && emitted.length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
  assert.strictEqual(emitted.length, 1, 'one emit from /v1/workResults');
  const { ev, payload } = emitted[0];
  assert.strictEqual(ev, `ExperimentUpdates-${EXP}`);
  const body = JSON.parse(payload.response.results[0].body);
  // persistUpdates runs after the emit: wait for the new louvain in the cell sets object.
  let cs;
  for (let i = 0; i < 100; i += 1) {
    cs = await experiments.getCellSets(EXP);
    if (JSON.stringify(cs.cellSets[0]) === JSON.stringify(body)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepStrictEqual(cs.cellSets[0], body);
  const size = JSON.stringify(cs).length;
  console.log(`[work] PASS ${ev}: result ${payload.response.results[0].body.length} bytes via s3-path; cell sets rewritten (${size} bytes, louvain children ${body.children.length})`);
  process.exit(0);
}
main().catch((e) => { console.error('[work] FAIL', e); process.exit(1); });
