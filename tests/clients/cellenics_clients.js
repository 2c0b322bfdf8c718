// The calls the Cellenics API of 2021 makes, with the SDKs it pins (aws-sdk
// 2.847.0, ioredis 4.17.3), against a running inframock stack.
//
// Run by tests/clients/test_node_clients.py: `node cellenics_clients.js [check ...]`
// with INFRAMOCK_TEST_ENDPOINT (http://127.0.0.1:<port>),
// INFRAMOCK_TEST_REDIS_PORT and INFRAMOCK_TEST_ID (makes keys and items unique)
// in the environment. Prints one JSON document: for each check,
// {"ok": true, ...what it saw} or {"ok": false, "error": ..., "code": ...}.
'use strict';

const crypto = require('crypto');
const http = require('http');
const AWS = require('aws-sdk');
const Redis = require('ioredis');

const endpoint = process.env.INFRAMOCK_TEST_ENDPOINT;
const redisPort = Number(process.env.INFRAMOCK_TEST_REDIS_PORT);
const id = process.env.INFRAMOCK_TEST_ID;
const CHECK_TIMEOUT_MS = 30000;

// As the Cellenics API configures aws-sdk in development.
AWS.config.update({
  endpoint,
  sslEnabled: false,
  s3ForcePathStyle: true,
  region: 'eu-west-1',
  accessKeyId: 'test',
  secretAccessKey: 'test',
});

const sha256 = (buffer) => crypto.createHash('sha256').update(buffer).digest('hex');

// 1.3 MB of varied bytes: aws-sdk sends `Expect: 100-continue` from 1 MB on.
const BIG_BODY = Buffer.alloc(1300 * 1024);
for (let i = 0; i < BIG_BODY.length; i += 1) BIG_BODY[i] = (i * 7919 + (i >> 10)) % 251;

const httpGet = (url) => new Promise((resolve, reject) => {
  http.get(url, (response) => {
    const chunks = [];
    response.on('data', (chunk) => chunks.push(chunk));
    response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks) }));
    response.on('error', reject);
  }).on('error', reject);
});

const redisClient = () => new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: false });

const checks = {
  async s3_large_put_get() {
    const s3 = new AWS.S3();
    const params = { Bucket: 'cell-sets-development', Key: id };
    await s3.putObject({ ...params, Body: BIG_BODY, ContentType: 'application/json' }).promise();
    const object = await s3.getObject(params).promise();
    return {
      sent_bytes: BIG_BODY.length,
      sent_sha256: sha256(BIG_BODY),
      got_bytes: object.Body.length,
      got_sha256: sha256(object.Body),
    };
  },

  async s3_presigned_get() {
    const s3 = new AWS.S3();
    const params = { Bucket: 'worker-results-development', Key: `${id}/presigned` };
    const body = Buffer.from(`{"experimentId": "${id}", "presigned": true}`);
    await s3.putObject({ ...params, Body: body }).promise();
    const url = s3.getSignedUrl('getObject', { ...params, Expires: 600 });
    const response = await httpGet(url);
    return {
      url_prefix: url.split('?')[0],
      status: response.status,
      body_matches: response.body.equals(body),
    };
  },

  async sqs_fifo() {
    const sqs = new AWS.SQS();
    const QueueUrl = `${endpoint}/000000000000/development-queue.fifo`;
    const body = JSON.stringify({ experimentId: id, body: { name: 'GetEmbedding' } });
    const sent = await sqs.sendMessage({ QueueUrl, MessageBody: body, MessageGroupId: 'work' }).promise();
    const deadline = Date.now() + 15000;
    const bodies = [];
    while (!bodies.includes(body) && Date.now() < deadline) {
      // eslint-disable-next-line no-await-in-loop
      const { Messages = [] } = await sqs.receiveMessage({
        QueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, AttributeNames: ['All'],
      }).promise();
      for (const message of Messages) {
        bodies.push(message.Body);
        // eslint-disable-next-line no-await-in-loop
        await sqs.deleteMessage({ QueueUrl, ReceiptHandle: message.ReceiptHandle }).promise();
      }
    }
    return { message_id: sent.MessageId, received: bodies.includes(body) };
  },

  async dynamodb_marshall() {
    const dynamodb = new AWS.DynamoDB();
    const docClient = new AWS.DynamoDB.DocumentClient();
    const item = {
      experimentId: id,
      experimentName: 'node client check',
      rbac_can_write: docClient.createSet(['user-a', 'user-b']),
      meta: { organism: 'mmusculus', cellCount: 1234, ratio: 0.25 },
      sampleIds: ['s1', 's2'],
    };
    const marshalled = AWS.DynamoDB.Converter.marshall(item);
    await dynamodb.putItem({ TableName: 'experiments-development', Item: marshalled }).promise();
    const { Item } = await dynamodb.getItem({
      TableName: 'experiments-development',
      Key: AWS.DynamoDB.Converter.marshall({ experimentId: id }),
    }).promise();
    const stored = AWS.DynamoDB.Converter.unmarshall(Item);
    return {
      sent_set_type: Object.keys(marshalled.rbac_can_write)[0],
      stored_set_type: Object.keys(Item.rbac_can_write)[0],
      stored_set_values: [...stored.rbac_can_write.values].sort(),
      stored_rest: { ...stored, rbac_can_write: undefined },
    };
  },

  // INFRAMOCK_TEST_REGISTERED (`bucket/key`) names an object the loader had
  // the engine serve from a cached file; it is put again by aws-sdk, and the
  // two must look alike to it (HEAD, GET, a range GET).
  async s3_registered_like_put() {
    const [Bucket, ...rest] = (process.env.INFRAMOCK_TEST_REGISTERED || '').split('/');
    const registered = { Bucket, Key: rest.join('/') };
    const put = { Bucket, Key: `${id}/put-again` };
    const s3 = new AWS.S3();
    const original = await s3.getObject(registered).promise();
    // aws-sdk defaults to application/octet-stream; the loader, as boto3, sends none.
    await s3.putObject({ ...put, Body: original.Body, ContentType: original.ContentType }).promise();
    const seen = async (params) => {
      const head = await s3.headObject(params).promise();
      const got = await s3.getObject(params).promise();
      const range = await s3.getObject({ ...params, Range: 'bytes=1000-1999999' }).promise();
      const keep = (r) => ({
        ETag: r.ETag,
        ContentLength: r.ContentLength,
        ContentType: r.ContentType,
        AcceptRanges: r.AcceptRanges,
        ContentRange: r.ContentRange,
        Metadata: r.Metadata,
      });
      return {
        head: keep(head),
        get: { ...keep(got), sha256: sha256(got.Body) },
        range: { ...keep(range), sha256: sha256(range.Body) },
      };
    };
    return { registered: await seen(registered), put: await seen(put) };
  },

  async dynamodb_samples_gsi_query() {
    const dynamodb = new AWS.DynamoDB();
    const projectUuid = `project-${id}`;
    const samples = { ids: ['sample-1'], 'sample-1': { name: 'one' } };
    await dynamodb.putItem({
      TableName: 'samples-development',
      Item: AWS.DynamoDB.Converter.marshall({ experimentId: id, projectUuid, samples }),
    }).promise();
    const { Items } = await dynamodb.query({
      TableName: 'samples-development',
      IndexName: 'gsiByProjectAndExperimentID',
      KeyConditionExpression: 'projectUuid = :p',
      ExpressionAttributeValues: AWS.DynamoDB.Converter.marshall({ ':p': projectUuid }),
    }).promise();
    return { items: Items.map((item) => AWS.DynamoDB.Converter.unmarshall(item)) };
  },

  async ioredis_setex_get() {
    const client = redisClient();
    try {
      const key = `${id}:work-result`;
      const set = await client.setex(key, 60, 'cached result');
      return { set, value: await client.get(key), ttl: await client.ttl(key) };
    } finally {
      client.disconnect();
    }
  },

  async ioredis_pubsub() {
    const subscriber = redisClient();
    const publisher = redisClient();
    const channel = `${id}:experiment-updates`;
    try {
      const received = new Promise((resolve) => {
        subscriber.on('message', (from, message) => resolve({ from, message }));
      });
      const subscribed = await subscriber.subscribe(channel);
      const receivers = await publisher.publish(channel, 'pipeline finished');
      return { subscribed, receivers, ...(await received) };
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
    }
  },
};

const withTimeout = (promise, name) => {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} took longer than ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};

const main = async () => {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(checks);
  const results = {};
  for (const name of names) {
    try {
      // eslint-disable-next-line no-await-in-loop
      results[name] = { ok: true, ...(await withTimeout(checks[name](), name)) };
    } catch (err) {
      results[name] = { ok: false, error: String(err), code: err.code || null };
    }
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
};

main();
