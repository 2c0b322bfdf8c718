/* Drive the 2021 Cellenics API's own code (commit fa3c99c6, aws-sdk 2.847.0) against inframock. */
const assert = require('assert');
const http = require('http');
const path = require('path');
const { AWS } = require('./preload');

const API = process.env.API_DIR; // the API's checkout, with node_modules
const EXP = 'e52b39624588791a7889e39c617f669e';
const PROJECT = '2b4a1d7e-0c1f-4e4b-9b1a-5f5e2021c0de';
const results = [];
const step = async (name, fn) => {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true, ms: Date.now() - t0, detail });
    console.log(`[e2e] PASS ${name} (${Date.now() - t0} ms) ${JSON.stringify(detail)}`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: String(e && e.stack || e) });
    console.log(`[e2e] FAIL ${name}: ${e && e.stack || e}`);
  }
};

// Record what aws-sdk puts on the wire for S3 PutObject (Expect header, body size).
const sent = [];
AWS.events.on('send', (resp) => {
  const r = resp.request;
  if (r.operation === 'putObject') {
    sent.push({ expect: r.httpRequest.headers.Expect, bytes: Buffer.byteLength(r.httpRequest.body) });
  }
});

// Record what the API emits to the UI over socket.io.
const { Namespace } = require(path.join(API, 'node_modules/socket.io/dist/namespace'));
const emitted = [];
const origEmit = Namespace.prototype.emit;
Namespace.prototype.emit = function emit(ev, ...args) {
  if (String(ev).startsWith('ExperimentUpdates-')) emitted.push({ ev, payload: args[0] });
  return origEmit.call(this, ev, ...args);
};

const getHealth = (port) => new Promise((resolve) => {
  http.get(`http://127.0.0.1:${port}/v1/health`, (res) => { res.resume(); resolve(res.statusCode); })
    .on('error', () => resolve(0));
});

async function main() {
  // The real API server: src/app.js (express loader, OpenAPI validator, socket.io, Redis cache loader).
  require(path.join(API, 'src/app.js'));
  const port = Number(process.env.PORT);
  for (let i = 0; i < 200 && (await getHealth(port)) !== 200; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.strictEqual(await getHealth(port), 200, 'API /v1/health');

  const ExperimentService = require(path.join(API, 'src/api/route-services/experiment'));
  const ProjectsService = require(path.join(API, 'src/api/route-services/projects'));
  const SamplesService = require(path.join(API, 'src/api/route-services/samples'));
  const getPipelineStatus = require(path.join(API, 'src/api/general-services/pipeline-status'));
  const experiments = new ExperimentService();
  const projects = new ProjectsService();
  const samples = new SamplesService();

  await step('getCellSets (loaded mock_cell_sets.json)', async () => {
    const data = await experiments.getCellSets(EXP);
    assert.deepStrictEqual(data.cellSets.map((c) => c.key), ['louvain', 'sample', 'scratchpad']);
    return { sets: data.cellSets.length, louvainChildren: data.cellSets[0].children.length };
  });

  await step('updateCellSets 1.3 MB + getCellSets round trip', async () => {
    const { cellSets } = await experiments.getCellSets(EXP);
    const big = JSON.parse(JSON.stringify(cellSets));
    const scratch = big.find((c) => c.key === 'scratchpad');
    const ids = [];
    const base = JSON.stringify({ cellSets: big }).length;
    for (let i = 0; base + ids.length * 7 < 1.3e6 + 200; i += 1) ids.push(100000 + i);
    scratch.children.push({ key: 'e2e-big-selection', name: 'big selection', color: '#ff0000', cellIds: ids });
    const bytes = JSON.stringify({ cellSets: big }).length;
    assert(bytes >= 1.3e6, `body ${bytes}`);
    sent.length = 0;
    const t0 = Date.now();
    await experiments.updateCellSets(EXP, big);
    const putMs = Date.now() - t0;
    const back = await experiments.getCellSets(EXP);
    assert.deepStrictEqual(back.cellSets, big);
    assert.strictEqual(sent.length, 1);
    assert.strictEqual(sent[0].expect, '100-continue');
    return { bytes, putMs, put: sent[0] };
  });

  await step('updateLouvainCellSets (get + put of the big object)', async () => {
    const louvain = { key: 'louvain', name: 'Louvain clusters', rootNode: true, type: 'cellSets', children: [{ key: 'louvain-0', name: 'Cluster 0', cellIds: [1, 2, 3] }] };
    await experiments.updateLouvainCellSets(EXP, louvain);
    const back = await experiments.getCellSets(EXP);
    assert.deepStrictEqual(back.cellSets[0], louvain);
    return { sets: back.cellSets.length };
  });

  await step('getProject', async () => {
    const p = await projects.getProject(PROJECT);
    assert.strictEqual(p.uuid, PROJECT);
    assert.deepStrictEqual(p.experiments, [EXP]);
    return { name: p.name, samples: p.samples.length };
  });

  await step('getProjectsFromIds (batchGetItem, one existing, one not)', async () => {
    const list = await projects.getProjectsFromIds(new Set([PROJECT, 'no-such-project']));
    assert.deepStrictEqual(list.map((p) => p.uuid).sort(), ['no-such-project', PROJECT].sort());
    return { projects: list.length };
  });

  await step('updateProject + getProject', async () => {
    const p = await projects.getProject(PROJECT);
    await projects.updateProject(PROJECT, { ...p, description: 'changed by the 2021 API' });
    for (let i = 0; i < 50; i += 1) { // updateProject does not await the write (.send())
      if ((await projects.getProject(PROJECT)).description === 'changed by the 2021 API') return { ok: true };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('update not visible');
  });

  await step('getSamples by project (GSI gsiByProjectAndExperimentID)', async () => {
    const items = await samples.getSamples(PROJECT);
    assert.strictEqual(items.length, 1);
    assert.strictEqual(items[0].experimentId, EXP);
    assert.strictEqual(items[0].projectUuid, PROJECT);
    assert.deepStrictEqual(Object.keys(items[0].samples).sort(), ['sample-KO', 'sample-WT1', 'sample-WT2']);
    return { items: items.length, keys: Object.keys(items[0]).sort() };
  });

  await step('getSamples of an unknown project -> NotFoundError', async () => {
    await assert.rejects(samples.getSamples('no-such-project'), /Samples not found/);
  });

  await step('updateSamples for a second experiment, then getSamples by project lists both', async () => {
    const other = 'b1a5e6f0c0de4d0a9e5e1e5c0ffee000';
    const { samples: s } = await samples.getSamplesByExperimentId(other);
    await samples.updateSamples(PROJECT, { experimentId: other, samples: s });
    for (let i = 0; i < 50; i += 1) {
      const items = await samples.getSamples(PROJECT);
      if (items.length === 2) return { experiments: items.map((x) => x.experimentId) };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('second experiment not in the index');
  });

  await step('saveGem2sHandle with a staging ARN -> pipeline status SUCCEEDED (ExecutionDoesNotExist)', async () => {
    await experiments.saveGem2sHandle(EXP, {
      stateMachineArn: 'arn:aws:states:eu-west-1:242905224710:stateMachine:biomage-gem2s-staging-abc',
      executionArn: 'arn:aws:states:eu-west-1:242905224710:execution:biomage-gem2s-staging-abc:exec-1',
      paramsHash: 'x',
    });
    const st = await getPipelineStatus(EXP, 'gem2s');
    assert.strictEqual(st.gem2s.status, 'SUCCEEDED');
    return { status: st.gem2s.status };
  });

  await step('GEM2SResponse published like the pipeline -> /v1/gem2sResults -> ExperimentUpdates emitted', async () => {
    const sns = new AWS.SNS({ region: 'eu-west-1' });
    const message = {
      experimentId: EXP,
      taskName: 'prepareExperiment',
      input: { experimentId: EXP, taskName: 'prepareExperiment', processName: 'gem2s' },
      response: { error: false },
    };
    emitted.length = 0;
    const r = await sns.publish({
      TopicArn: 'arn:aws:sns:eu-west-1:000000000000:work-results-development-default',
      Message: JSON.stringify(message),
      MessageAttributes: { type: { DataType: 'String', StringValue: 'GEM2SResponse' } },
    }).promise();
    for (let i = 0; i < 100 && emitted.length === 0; i += 1) await new Promise((res) => setTimeout(res, 50));
    assert.strictEqual(emitted.length, 1, 'one ExperimentUpdates emit');
    assert.strictEqual(emitted[0].ev, `ExperimentUpdates-${EXP}`);
    assert.strictEqual(emitted[0].payload.type, 'gem2s');
    assert.strictEqual(emitted[0].payload.taskName, 'prepareExperiment');
    assert.strictEqual(emitted[0].payload.status.gem2s.status, 'SUCCEEDED');
    return { messageId: r.MessageId, event: emitted[0].ev, status: emitted[0].payload.status.gem2s.status };
  });

  await step('a WorkResponse does not reach /v1/gem2sResults', async () => {
    emitted.length = 0;
    const sns = new AWS.SNS({ region: 'eu-west-1' });
    await sns.publish({
      TopicArn: 'arn:aws:sns:eu-west-1:000000000000:work-results-development-default',
      Message: JSON.stringify({ experimentId: EXP, taskName: 'x', response: { error: false } }),
      MessageAttributes: { type: { DataType: 'String', StringValue: 'PipelineResponse-not-gem2s' } },
    }).promise();
    await new Promise((res) => setTimeout(res, 300));
    assert.strictEqual(emitted.length, 0);
  });

  await step('downloadData signed URL for the processed matrix answers', async () => {
    // downloadData needs projectId on the experiment item; the reference item has none.
    await experiments.updateExperiment(EXP, { projectId: PROJECT });
    const { signedUrl } = await experiments.downloadData(EXP, 'processed_seurat_object');
    const status = await new Promise((resolve) => {
      http.get(signedUrl, (res) => { let n = 0; res.on('data', (c) => { n += c.length; }); res.on('end', () => resolve({ code: res.statusCode, bytes: n, cd: res.headers['content-disposition'] })); });
    });
    assert.strictEqual(status.code, 200);
    return status;
  });

  const failed = results.filter((r) => !r.ok);
  console.log(`[e2e] SUMMARY ${results.length - failed.length}/${results.length} passed`);
    process.exit(failed.length ? 1 : 0);
}

main().catch((e) => { console.error('[e2e] fatal', e); process.exit(2); });
