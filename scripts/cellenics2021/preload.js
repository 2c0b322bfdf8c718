/* Patches applied before the 2021 API's own code loads: only what needs the internet
 * (Cognito, STS) and the hardcoded localhost:4566 / :6379 addresses. */
const path = require('path');
const API = process.env.API_DIR; // the API's checkout, with node_modules
const STACK = process.env.STACK_ENDPOINT; // e.g. http://localhost:45561
const REDIS_PORT = process.env.STACK_REDIS_PORT;
const AWS = require(path.join(API, 'node_modules/aws-sdk'));

// 1. Cognito and STS are asked at load, before the endpoint patch: answer locally.
AWS.CognitoIdentityServiceProvider.prototype.listUserPools = function listUserPools() {
  return { promise: async () => ({ UserPools: [{ Name: 'biomage-user-pool-case-insensitive-staging', Id: 'eu-west-1_LocalPool' }] }) };
};
AWS.STS.prototype.getCallerIdentity = function getCallerIdentity() {
  return { promise: async () => ({ Account: '000000000000' }) };
};

// 2. The API's default-config calls AWS.config.update({endpoint: 'http://localhost:4566', ...}).
const update = AWS.config.update.bind(AWS.config);
AWS.config.update = (options, ...rest) => {
  if (options && options.endpoint === 'http://localhost:4566') {
    console.log(`[preload] endpoint ${options.endpoint} -> ${STACK}`);
    return update({ ...options, endpoint: STACK }, ...rest);
  }
  return update(options, ...rest);
};

// 3. Redis: BASE_CONFIG hardcodes localhost:6379.
const { BASE_CONFIG } = require(path.join(API, 'src/cache/generate-config'));
BASE_CONFIG.primary.port = REDIS_PORT;
BASE_CONFIG.reader.port = REDIS_PORT;

module.exports = { AWS };

// 4. work-submit sends to the hardcoded QueueUrl http://localhost:4566/000000000000/development-queue.fifo
//    (aws-sdk v2 uses the QueueUrl as the endpoint): rewrite it before the request is built.
AWS.events.on('validate', (req) => {
  if (req.params && typeof req.params.QueueUrl === 'string') {
    req.params.QueueUrl = req.params.QueueUrl.replace('http://localhost:4566', STACK);
  }
});
