'use strict';

// The REST Hook triggers end to end: subscribe with a target URL served by this test (standing
// in for Zapier's hooks endpoint), a post on the sandbox, the gateway's signed delivery, handed
// to `perform` as Zapier hands it over, then unsubscribe.

const http = require('http');
const { App, appTester, authData, gateway, caught, unique } = require('./helpers');

const trigger = App.triggers.post_published_or_failed.operation;
const DELIVERY_TIMEOUT_MS = 20000;

let server;
let targetUrl;
const waiting = []; // { match, resolve }
const received = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const delivery = { headers: req.headers, content: Buffer.concat(chunks).toString('utf8') };
      received.push(delivery);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"success"}');
      for (const w of waiting.splice(0)) (w.match(delivery) ? w.resolve(delivery) : waiting.push(w));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${server.address().port}/hooks/standard/1/abc`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

// Resolves with the first delivery about `postId`, already received or still to come.
const deliveryFor = (postId) => {
  const match = (d) => {
    try {
      return JSON.parse(d.content).data.id === postId;
    } catch (e) {
      return false;
    }
  };
  const already = received.find(match);
  if (already) return Promise.resolve(already);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no delivery for ${postId} within ${DELIVERY_TIMEOUT_MS} ms`)), DELIVERY_TIMEOUT_MS);
    waiting.push({ match, resolve: (d) => (clearTimeout(timer), resolve(d)) });
  });
};

// Zapier's shape: the parsed body, and the raw request with headers as `Http-<Name>`.
const asZapier = (delivery) => {
  const headers = { 'Content-Type': delivery.headers['content-type'] };
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const zapierName = `Http-${name.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('-')}`;
    headers[zapierName] = delivery.headers[name];
  }
  return {
    cleanedRequest: JSON.parse(delivery.content),
    rawRequest: { method: 'POST', querystring: '', headers, content: delivery.content },
  };
};

const createVideo = (inputData) =>
  appTester(App.creates.create_post.operation.perform, {
    authData: authData(),
    inputData: {
      account: 'sandbox_public',
      privacy: 'PUBLIC_TO_EVERYONE',
      allow_comment: true,
      allow_duet: true,
      allow_stitch: true,
      content_preview_confirmed: true,
      express_consent_given: true,
      ...inputData,
    },
  });

test('subscribe, a published and a failed post delivered, verified and parsed, unsubscribe', async () => {
  const subscribeData = await appTester(trigger.performSubscribe, { authData: authData(), targetUrl });
  expect(subscribeData).toEqual({
    id: expect.stringMatching(/^sub_/),
    secret: expect.stringMatching(/^whsec_/),
    target_url: targetUrl,
    events: ['post.published', 'post.failed'],
    created_at: expect.any(String),
  });
  const listed = await gateway(`/v1/webhooks/subscriptions/${subscribeData.id}`);
  expect(listed.status).toBe(200);
  expect(listed.body.target_url).toBe(targetUrl);

  // Published now.
  const tag = unique();
  const post = await createVideo({ caption: `hook ${tag}`, video_url: `https://cdn.example.com/hook-${tag}.mp4` });
  expect(post.status).toBe('published');
  const delivery = await deliveryFor(post.id);
  expect(delivery.headers['webhook-signature']).toMatch(/^v1,/);
  const items = await appTester(trigger.perform, { authData: authData(), subscribeData, ...asZapier(delivery) });
  expect(items).toEqual([
    {
      id: post.id,
      event: 'post.published',
      event_timestamp: expect.any(String),
      account: 'sandbox_public',
      status: 'published',
      tiktok_url: post.tiktok_url,
      error: null,
      metadata: null,
    },
  ]);

  // Failed: the sandbox fails a download from a host under .invalid.
  // TikTok's refusal fails the step (422) and names the recorded post.
  const refusal = await caught(createVideo({ caption: `fail ${tag}`, video_url: `https://media.invalid/fail-${tag}.mp4` }));
  expect(refusal).toMatchObject({ name: 'AppError', code: 'media_download_failed', status: 422 });
  const failedId = refusal.message.match(/\nPost: (\S+)$/)[1];
  const failed = (await gateway(`/v1/tiktok/posts/${failedId}`)).body;
  expect(failed).toMatchObject({ status: 'failed', error_code: 'media_download_failed' });
  const failedDelivery = await deliveryFor(failed.id);
  const [failedItem] = await appTester(trigger.perform, { authData: authData(), subscribeData, ...asZapier(failedDelivery) });
  expect(failedItem).toMatchObject({ id: failed.id, event: 'post.failed', status: 'failed', error: { code: 'media_download_failed' } });

  // A tampered body, a signature made with another secret, and no signature at all are refused.
  const tampered = asZapier(delivery);
  tampered.rawRequest.content = tampered.rawRequest.content.replace('"published"', '"failed"');
  tampered.cleanedRequest = JSON.parse(tampered.rawRequest.content);
  expect(await caught(appTester(trigger.perform, { authData: authData(), subscribeData, ...tampered }))).toEqual({
    name: 'AppError',
    message: 'Webhook refused: the signature does not match the body',
    code: 'invalid_signature',
    status: 401,
  });
  const otherSecret = { ...subscribeData, secret: 'whsec_' + Buffer.alloc(32, 7).toString('base64') };
  expect(
    (await caught(appTester(trigger.perform, { authData: authData(), subscribeData: otherSecret, ...asZapier(delivery) }))).message,
  ).toBe('Webhook refused: the signature does not match the body');
  const unsigned = asZapier(delivery);
  unsigned.rawRequest.headers = { 'Content-Type': 'application/json' };
  expect(
    (await caught(appTester(trigger.perform, { authData: authData(), subscribeData, ...unsigned }))).message,
  ).toBe('Webhook refused: the delivery carries no Standard Webhooks signature');

  // Unsubscribe: gone from the gateway; a second unsubscribe (already gone) is not an error.
  await appTester(trigger.performUnsubscribe, { authData: authData(), subscribeData });
  expect((await gateway(`/v1/webhooks/subscriptions/${subscribeData.id}`)).status).toBe(404);
  await appTester(trigger.performUnsubscribe, { authData: authData(), subscribeData });
});

test('performList: the newest posts first, each with its id, published and failed only', async () => {
  const items = await appTester(trigger.performList, { authData: authData(), meta: { isLoadingSample: true } });
  const direct = await gateway('/v1/tiktok/posts?limit=50');
  const expected = direct.body.items
    .filter((p) => ['published', 'failed'].includes(p.status))
    .map((p) => ({ ...p, event: `post.${p.status}` }));
  expect(items).toEqual(expected);
  expect(items.length).toBeGreaterThanOrEqual(2);
  const times = items.map((p) => p.created_at);
  expect([...times].sort().reverse()).toEqual(times);
});

test('the "Post Scheduled" trigger subscribes to post.scheduled and lists scheduled posts', async () => {
  const scheduled = App.triggers.post_scheduled.operation;
  const subscribeData = await appTester(scheduled.performSubscribe, { authData: authData(), targetUrl });
  expect(subscribeData.events).toEqual(['post.scheduled']);
  const at = new Date(Date.now() + 30 * 86400 * 1000).toISOString();
  const tag = unique();
  const post = await createVideo({ caption: `later ${tag}`, video_url: `https://cdn.example.com/later-${tag}.mp4`, schedule_at: at });
  expect(post.mode).toBe('scheduled');
  const [item] = await appTester(scheduled.perform, { authData: authData(), subscribeData, ...asZapier(await deliveryFor(post.id)) });
  expect(item).toMatchObject({ id: post.id, event: 'post.scheduled', status: 'scheduled' });
  const listed = await appTester(scheduled.performList, { authData: authData() });
  expect(listed.map((p) => p.id)).toContain(post.id);
  expect(listed.every((p) => p.status === 'scheduled')).toBe(true);
  await appTester(scheduled.performUnsubscribe, { authData: authData(), subscribeData });
});
