/* Patches applied before today's Cellenics API code loads: only the look-up that needs the
 * internet (GitHub's pipeline.yaml) and the addresses the API hardcodes
 * (http://localhost:4566, PostgreSQL on localhost:5431), so it can reach a stack on other
 * ports. Everything else (aws-sdk, knex on the stack's PostgreSQL, node-jq) is the API's own.
 */
const fs = require('fs');
const path = require('path');

const API = process.env.API_DIR; // the API's checkout, with node_modules
const STACK = process.env.STACK_ENDPOINT; // e.g. http://127.0.0.1:45661
const PG_PORT = Number(process.env.STACK_PG_PORT || 5431);

// The API's config in development (default-config.js, getDomainSpecificContent.js).
process.env.NODE_ENV = process.env.NODE_ENV || 'development';
process.env.CLUSTER_ENV = process.env.CLUSTER_ENV || 'development';
process.env.DEV_ACCOUNT = process.env.DEV_ACCOUNT || 'BIOMAGE';
process.env.AWS_ACCOUNT_ID = process.env.AWS_ACCOUNT_ID || '000000000000';
process.env.AWS_REGION = process.env.AWS_REGION || 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID = process.env.AWS_ACCESS_KEY_ID || 'local';
process.env.AWS_SECRET_ACCESS_KEY = process.env.AWS_SECRET_ACCESS_KEY || 'local';
// node-jq is installed with --ignore-scripts (its install downloads jq from GitHub):
// point it at the machine's jq.
process.env.JQ_PATH = process.env.JQ_PATH || '/usr/bin/jq';

const AWS = require(path.join(API, 'node_modules/aws-sdk'));

// 1. default-config.js calls AWS.config.update({ endpoint: 'http://localhost:4566', ... }).
const update = AWS.config.update.bind(AWS.config);
AWS.config.update = (options, ...rest) => {
  if (options && options.endpoint === 'http://localhost:4566') {
    console.log(`[preload] endpoint ${options.endpoint} -> ${STACK}`);
    return update({ ...options, endpoint: STACK }, ...rest);
  }
  return update(options, ...rest);
};

// 2. src/sql/getConnectionParams.js answers localhost:5431 in development.
const connectionModule = path.join(API, 'src/sql/getConnectionParams.js');
const getConnectionParams = require(connectionModule);
require.cache[require.resolve(connectionModule)].exports = async (...args) => {
  const params = await getConnectionParams(...args);
  return { ...params, host: '127.0.0.1', port: PG_PORT };
};

// 3. pipelineConstruct/utils.js getPipelineArtifacts() fetches
//    https://raw.githubusercontent.com/<org>/releases/master/production/pipeline.yaml
//    with the global fetch: answer with a local manifest of the same shape.
const MANIFEST = fs.readFileSync(path.join(__dirname, 'pipeline.yaml'), 'utf8');
const realFetch = global.fetch;
const stubbed = [];
global.fetch = async (url, ...rest) => {
  if (String(url).startsWith('https://raw.githubusercontent.com/')) {
    stubbed.push(String(url));
    return new Response(MANIFEST, { status: 200 });
  }
  if (!/^https?:\/\/(localhost|127\.0\.0\.1)[:/]/.test(String(url))) {
    throw new Error(`[preload] refused a request off this machine: ${url}`);
  }
  return realFetch(url, ...rest);
};

module.exports = { AWS, stubbed };
