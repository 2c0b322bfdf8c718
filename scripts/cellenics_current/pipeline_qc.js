/* Today's Cellenics API's own pipeline code against an inframock `current` stack:
 * createQCPipeline (pipelineConstruct/index.js) builds the QC state machine, creates its
 * activity, creates the machine and starts the execution, as the API does when gem2s
 * finishes (gem2s.js continueToQC); a pipeline runner (the stack's launcher, or this
 * script when RUNNER=driver) answers the activity tasks; getPipelineStatus.js then reads
 * the run back until it stops. Prints one `[qc]` line per check and exits non-zero on a
 * failed one. See README.md for what is patched and how to run it.
 */
const assert = require('assert');
const { spawn } = require('child_process');
const path = require('path');
const { randomUUID } = require('crypto');
const { AWS, stubbed } = require('./preload');

const API = process.env.API_DIR;
const PG_PORT = Number(process.env.STACK_PG_PORT || 5431);
const SAMPLES = Number(process.env.QC_SAMPLES || 2);
const TIMEOUT_S = Number(process.env.QC_TIMEOUT_SECONDS || 300);
const RUNNER = process.env.RUNNER || 'launcher';
const FAIL_TASK = process.env.RUNNER_FAIL_TASK || ''; // launcher: the stack starts it; driver: we do

const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
let failures = 0;
const report = (ok, name, detail) => {
  if (!ok) failures += 1;
  console.log(`[qc] ${ok ? 'PASS' : 'FAIL'} ${name} (${secs()} s) ${detail === undefined ? '' : JSON.stringify(detail)}`);
};

const api = (rel) => require(path.join(API, rel));

// A QC processing config as gem2s leaves it (per-sample filters with their defaults).
const processingConfigFor = (sampleIds) => {
  const perSample = (settings) => Object.fromEntries(sampleIds.map((id) => [id, {
    enabled: true, auto: true, filterSettings: settings, defaultFilterSettings: settings,
  }]));
  return {
    classifier: perSample({ FDR: 0.01 }),
    cellSizeDistribution: perSample({ minCellSize: 1000, binStep: 200 }),
    mitochondrialContent: perSample({ method: 'absoluteThreshold', methodSettings: { absoluteThreshold: { maxFraction: 0.1, binStep: 0.3 } } }),
    numGenesVsNumUmis: perSample({ regressionType: 'linear', regressionTypeSettings: { linear: { 'p.level': 0.001 } } }),
    doubletScores: perSample({ probabilityThreshold: 0.5, binStep: 0.05 }),
    dataIntegration: {
      dataIntegration: { method: 'harmony', methodSettings: { harmony: { numGenes: 2000, normalisation: 'logNormalize' } } },
      dimensionalityReduction: { method: 'rpca', numPCs: 30, excludeGeneCategories: [] },
    },
    configureEmbedding: {
      embeddingSettings: { method: 'umap', methodSettings: { umap: { minimumDistance: 0.3, distanceMetric: 'cosine' } } },
      clusteringSettings: { method: 'louvain', methodSettings: { louvain: { resolution: 0.8 } } },
    },
  };
};

async function migrateAndSeed(experimentId, sampleIds) {
  // The API's own knex and migrations (src/sql/migrations) on the stack's PostgreSQL.
  const knex = require(path.join(API, 'node_modules/knex'));
  const db = knex({
    client: 'postgresql',
    connection: { host: '127.0.0.1', port: PG_PORT, user: 'postgres', database: 'aurora_db' },
  });
  try {
    const [batch, ran] = await db.migrate.latest({ directory: path.join(API, 'src/sql/migrations') });
    report(true, 'API migrations', { batch, ran: ran.length });
    await db('experiment').insert({
      id: experimentId,
      name: 'inframock QC run',
      description: 'scripts/cellenics_current',
      processing_config: {},
      samples_order: JSON.stringify(sampleIds),
    });
    await db('sample').insert(sampleIds.map((id, i) => ({
      id, experiment_id: experimentId, name: `sample-${i + 1}`, sample_technology: '10x',
    })));
    report(true, 'experiment and samples in aurora_db', { experimentId, samples: sampleIds.length });
  } finally {
    await db.destroy();
  }
}

function startRunner(activityArn) {
  const child = spawn(process.env.RUNNER_PYTHON || 'python3', [path.join(__dirname, 'pipeline_runner.py')], {
    env: { ...process.env, ACTIVITY_ARN: activityArn, AWS_ENDPOINT_URL: process.env.STACK_ENDPOINT },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

async function main() {
  const experimentId = randomUUID();
  const sampleIds = Array.from({ length: SAMPLES }, () => randomUUID());
  await migrateAndSeed(experimentId, sampleIds);

  // The API's sql loader (knexfile -> getConnectionParams) makes the models' client.
  await api('src/loaders/sqlClient.js')();
  const getPipelineStatus = api('src/api.v2/helpers/pipeline/getPipelineStatus.js');
  const sfn = new AWS.StepFunctions({ region: process.env.AWS_REGION });

  const before = await getPipelineStatus(experimentId, 'qc');
  report(before.qc.status === 'NOT_CREATED', 'status before the run', before.qc.status);

  const config = processingConfigFor(sampleIds);
  const all = [
    'ClassifierFilter', 'CellSizeDistributionFilter', 'MitochondrialContentFilter',
    'NumGenesVsNumUmisFilter', 'DoubletScoresFilter', 'DataIntegration', 'ConfigureEmbedding',
  ];
  // 0. gem2s, as the API starts it when the user launches processing (QC_GEM2S=0 skips it).
  if (process.env.QC_GEM2S !== '0' && !FAIL_TASK) {
    await runGem2s(sfn, experimentId, sampleIds);
  }
  // 1. The first QC run, as gem2s.js continueToQC starts it: the whole config as the diff.
  if (FAIL_TASK) {
    // The runner answers SendTaskFailure for this task (every sample): the API must report
    // FAILED, R's error, and the steps done before it.
    const failAt = { classifier: 0, cellSizeDistribution: 1, mitochondrialContent: 2, numGenesVsNumUmis: 3, doubletScores: 4, dataIntegration: 5, configureEmbedding: 6 }[FAIL_TASK];
    await runQC(sfn, experimentId, 'failing run', config, null, all.slice(0, failAt), 'FAILED');
    if (RUNNER === 'launcher') await runnerQuits();
    return;
  }
  await runQC(sfn, experimentId, 'first run', config, ['DeleteCompletedPipelineWorker', 'LaunchNewPipelineWorker', 'ClassifierFilterMap', 'CellSizeDistributionFilterMap', 'MitochondrialContentFilterMap', 'NumGenesVsNumUmisFilterMap', 'DoubletScoresFilterMap', 'DataIntegration', 'ConfigureEmbedding', 'HandleError', 'MarkAsFailed', 'EndOfPipeline'], all);
  if (process.env.QC_RERUN === '0') {
    if (RUNNER === 'launcher') await runnerQuits();
    return;
  }
  // 2. A re-run as qcController.runQC starts it when the user changes the embedding: only
  //    ConfigureEmbedding is scheduled, the same state machine is updated
  //    (StateMachineAlreadyExists -> UpdateStateMachine), the other steps count as done.
  const diff = { configureEmbedding: { clusteringSettings: { method: 'louvain', methodSettings: { louvain: { resolution: 0.5 } } } } };
  await runQC(sfn, experimentId, 're-run', diff, ['DeleteCompletedPipelineWorker', 'LaunchNewPipelineWorker', 'ConfigureEmbedding', 'HandleError', 'MarkAsFailed', 'EndOfPipeline'], all);
  if (RUNNER === 'launcher') await runnerQuits();
}

// R quits on the first empty GetActivityTask answer (init-functions.R:676): it must come
// after the long poll (INFRAMOCK_ACTIVITY_POLL_SECONDS, AWS 60 s), not at once.
let lastRunStarted = 0;
async function runnerQuits() {
  const fs = require('fs');
  const limit = Date.now() + 1000 * (Number(process.env.RUNNER_QUIT_TIMEOUT_SECONDS || 80));
  while (Date.now() < limit) {
    const lines = fs.existsSync(process.env.RUNNER_LOG || '') ? fs.readFileSync(process.env.RUNNER_LOG, 'utf8').trim().split('\n') : [];
    const empty = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'empty-poll' && e.t * 1000 >= lastRunStarted);
    if (empty) {
      report(true, 'the launched runner quit on an empty poll', { waitedSeconds: empty.waited });
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  report(false, 'the launched runner quit on an empty poll', 'no empty poll seen');
}

function runQC(sfn, experimentId, label, diff, expectedStates, expectedSteps, expectedStatus = 'SUCCEEDED') {
  const { createQCPipeline } = api('src/api.v2/helpers/pipeline/pipelineConstruct');
  return runPipeline(sfn, experimentId, 'qc', label, 'createQCPipeline',
    () => createQCPipeline(experimentId, diff, 'Bearer local-jwt', null),
    expectedStates, expectedSteps, expectedStatus);
}

// gem2s.js startGem2sPipeline: createGem2SPipeline, then the execution row it saves
// (its task params come from sample files this driver does not make: a small stand-in).
function runGem2s(sfn, experimentId, sampleIds) {
  const { createGem2SPipeline } = api('src/api.v2/helpers/pipeline/pipelineConstruct');
  const ExperimentExecution = api('src/api.v2/model/ExperimentExecution.js');
  const taskParams = {
    projectId: experimentId, experimentName: 'inframock QC run', organism: null, input: { type: '10x' },
    sampleIds, sampleNames: sampleIds.map((_, i) => `sample-${i + 1}`), sampleS3Paths: {}, sampleOptions: sampleIds.map(() => ({})), metadata: {},
  };
  const start = async () => {
    const { stateMachineArn, executionArn } = await createGem2SPipeline(experimentId, taskParams, 'Bearer local-jwt');
    await new ExperimentExecution().updateExecution(experimentId, 'gem2s', {
      last_pipeline_params: {}, state_machine_arn: stateMachineArn, execution_arn: executionArn,
    }, { experimentId });
  };
  const steps = ['DownloadGem', 'PreProcessing', 'EmptyDrops', 'DoubletScores', 'CreateSeurat', 'PrepareExperiment', 'UploadToAWS'];
  return runPipeline(sfn, experimentId, 'gem2s', 'gem2s run', 'createGem2SPipeline', start,
    ['DeleteCompletedPipelineWorker', 'LaunchNewPipelineWorker', ...steps, 'HandleError', 'MarkAsFailed', 'EndOfPipeline'], steps);
}

async function runPipeline(sfn, experimentId, processName, label, what, start, expectedStates, expectedSteps, expectedStatus = 'SUCCEEDED') {
  const getPipelineStatus = api('src/api.v2/helpers/pipeline/getPipelineStatus.js');
  const ExperimentExecution = api('src/api.v2/model/ExperimentExecution.js');

  const started = Date.now();
  lastRunStarted = started;
  try {
    await start();
    report(true, `${label}: ${what}`, { ms: Date.now() - started, githubStubbed: stubbed.length });
  } catch (e) {
    report(false, `${label}: ${what}`, String(e && e.stack || e));
    return;
  }

  const { executionArn, stateMachineArn } = await new ExperimentExecution()
    .findOne({ experiment_id: experimentId, pipeline_type: processName });
  report(Boolean(executionArn), `${label}: experiment_execution row`, { stateMachineArn, executionArn });
  const definition = JSON.parse((await sfn.describeStateMachine({ stateMachineArn }).promise()).definition);
  if (expectedStates) report(JSON.stringify(Object.keys(definition.States)) === JSON.stringify(expectedStates), `${label}: states scheduled`, Object.keys(definition.States));
  const task = Object.values(definition.States).flatMap((st) => (st.Iterator ? Object.values(st.Iterator.States) : [st]))
    .find((st) => st.Resource && st.Resource.includes(':activity:'));
  const activityArn = task.Resource;
  const activities = (await sfn.listActivities({}).promise()).activities.map((a) => a.activityArn);
  report(activities.includes(activityArn), `${label}: activity listed`, activityArn);

  const runner = RUNNER === 'driver' ? startRunner(activityArn) : null;

  let status;
  const seen = [];
  while ((Date.now() - started) / 1000 < TIMEOUT_S) {
    try {
      status = (await getPipelineStatus(experimentId, processName))[processName];
    } catch (e) {
      report(false, `${label}: getPipelineStatus`, String(e && e.stack || e));
      break;
    }
    const line = `${status.status} ${status.completedSteps.join(',')}`;
    if (seen[seen.length - 1] !== line) {
      seen.push(line);
      console.log(`[qc] ${label}: status at ${secs()} s: ${line}`);
    }
    if (status.status !== 'RUNNING') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const runMs = Date.now() - started;

  report(status && status.status === expectedStatus, `${label}: final status`, status);
  report(status && JSON.stringify(status.completedSteps) === JSON.stringify(expectedSteps), `${label}: completedSteps`, status && status.completedSteps);
  if (expectedStatus === 'SUCCEEDED') {
    report(status && status.error === false, `${label}: no error`, status && status.error);
  } else {
    // checkError: the last ActivityFailed's details, as R sent them (init-functions.R:713).
    report(status && status.error && status.error.error === 'We had an issue while processing your data.'
      && String(status.error.cause).startsWith(`R error at filter step ${FAIL_TASK}`), `${label}: R's error reported`, status && status.error);
  }
  report(status && Boolean(status.startDate && status.stopDate), `${label}: start and stop dates`, status && [status.startDate, status.stopDate]);
  console.log(`[qc] ${label}: ${runMs} ms from ${what} to ${status && status.status}`);

  // What the API stored: last_status_response is the status it returned.
  const row = await new ExperimentExecution().findOne({ experiment_id: experimentId, pipeline_type: processName });
  const stored = row.lastStatusResponse && row.lastStatusResponse[processName].status;
  report(stored === (status && status.status), `${label}: last_status_response stored`, stored);

  // The history events the API reads, for the record.
  const history = [];
  let nextToken;
  do {
    const page = await sfn.getExecutionHistory({ executionArn, nextToken, maxResults: 100 }).promise();
    history.push(...page.events);
    nextToken = page.nextToken;
  } while (nextToken);
  const counts = history.reduce((acc, e) => ({ ...acc, [e.type]: (acc[e.type] || 0) + 1 }), {});
  console.log(`[qc] ${label}: history ${history.length} events ${JSON.stringify(counts)}`);

  if (runner) {
    const code = await runner;
    report(code === 0, `${label}: stand-in runner quit on an empty poll`, { code });
  }
}

main()
  .catch((e) => { report(false, 'driver', String(e && e.stack || e)); })
  .finally(async () => {
    try { await api('src/sql/sqlClient.js').get().destroy(); } catch (e) { /* not made */ }
    console.log(`[qc] ${failures === 0 ? 'all checks passed' : `${failures} check(s) failed`} in ${secs()} s`);
    process.exit(failures === 0 ? 0 : 1);
  });
