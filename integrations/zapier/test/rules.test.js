'use strict';

// The app's pure rules, without a gateway: the error mapping on answers the sandbox cannot be
// made to give on demand, the signature check's edges, and the body built from the fields.

const crypto = require('crypto');
const zapier = require('zapier-platform-core');
const { mapErrors } = require('../lib/http');
const { verify } = require('../lib/signature');
const { flatBody, idempotencyKey } = require('../lib/post_fields');

const z = { errors: zapier.errors };
const answer = (status, body, headers = {}) => ({
  status,
  content: typeof body === 'string' ? body : JSON.stringify(body),
  headers: { get: (name) => (name in headers ? headers[name] : null) },
});
const thrown = (fn) => {
  try {
    fn();
  } catch (e) {
    let fields;
    try {
      fields = JSON.parse(e.message);
    } catch (_) {
      fields = { message: e.message };
    }
    return { name: e.name, ...fields };
  }
  throw new Error('expected a throw');
};

describe('error mapping', () => {
  test('2xx and answers the operation handles itself pass through', () => {
    const ok = answer(200, { id: 'x' });
    expect(mapErrors(ok, z)).toBe(ok);
    const own = { ...answer(404, { code: 'not_found' }), skipThrowForStatus: true };
    expect(mapErrors(own, z)).toBe(own);
  });

  test('409 idempotency_conflict (the same step still in flight) is retried shortly', () => {
    const e = thrown(() =>
      mapErrors(answer(409, { code: 'idempotency_conflict', detail: 'a request with this Idempotency-Key is still being processed; retry shortly' }), z),
    );
    expect(e).toEqual({
      name: 'ThrottledError',
      message: 'a request with this Idempotency-Key is still being processed; retry shortly (idempotency_conflict)',
      delay: 1,
    });
  });

  test('409 account_disconnected is an error with the owner fix', () => {
    const e = thrown(() =>
      mapErrors(answer(409, { code: 'account_disconnected', detail: 'the TikTok account is disconnected', fix: 'Reconnect it in Zernio.' }), z),
    );
    expect(e).toEqual({
      name: 'AppError',
      message: 'the TikTok account is disconnected (account_disconnected)\nFix: Reconnect it in Zernio.',
      code: 'account_disconnected',
      status: 409,
    });
  });

  test('429 without Retry-After is throttled with no delay; 503 is an error with its code', () => {
    expect(thrown(() => mapErrors(answer(429, { code: 'rate_limited', detail: 'slow down' }), z))).toEqual({
      name: 'ThrottledError',
      message: 'slow down (rate_limited)',
      delay: null,
    });
    expect(thrown(() => mapErrors(answer(503, { code: 'upstream_unavailable', detail: 'Zernio is down' }, { 'retry-after': '7' }), z))).toEqual({
      name: 'AppError',
      message: 'Zernio is down (upstream_unavailable)',
      code: 'upstream_unavailable',
      status: 503,
    });
  });

  test('a body that is not a problem still fails with the status', () => {
    expect(thrown(() => mapErrors(answer(502, '<html>bad gateway</html>'), z))).toEqual({
      name: 'AppError',
      message: 'the gateway answered HTTP 502',
      code: 'http_502',
      status: 502,
    });
  });
});

describe('Standard Webhooks signature', () => {
  const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
  const sign = (id, ts, body) =>
    `v1,${crypto.createHmac('sha256', Buffer.alloc(32, 1)).update(`${id}.${ts}.${body}`).digest('base64')}`;
  const now = 1764331578;
  const headers = (sig, ts = now) => ({ 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': sig });

  test('a valid signature among several (key rotation) is accepted', () => {
    const body = '{"type":"post.published"}';
    expect(verify(secret, headers(`v1,AAAA ${sign('msg_1', now, body)}`), body, now)).toBeNull();
  });

  test('a timestamp over an hour away, a malformed one and a non-whsec secret are refused', () => {
    const body = '{}';
    const old = now - 3601;
    expect(verify(secret, headers(sign('msg_1', old, body), old), body, now)).toBe('webhook-timestamp is too far from now');
    expect(verify(secret, headers(sign('msg_1', now, body), '12a'), body, now)).toBe('webhook-timestamp is not a Unix time');
    expect(verify('plain', headers(sign('msg_1', now, body)), body, now)).toBe('the secret is not a whsec_ secret');
  });

  test('another id under the same signature is refused', () => {
    const body = '{}';
    const h = headers(sign('msg_1', now, body));
    h['webhook-id'] = 'msg_2';
    expect(verify(secret, h, body, now)).toBe('the signature does not match the body');
  });
});

describe('bodies', () => {
  const input = {
    account: 'sandbox_public',
    image_urls: ['https://cdn.example.com/a.jpg', ' https://cdn.example.com/b.jpg '],
    title: 'Trip',
    privacy: 'SELF_ONLY',
    allow_comment: 'yes',
    photo_cover_index: '1',
    caption: '',
    content_preview_confirmed: true,
    express_consent_given: 'true',
  };

  test('flat: empty fields left out, photos one a line, one consent for both flags', () => {
    expect(flatBody(input)).toEqual({
      account: 'sandbox_public',
      title: 'Trip',
      privacy: 'SELF_ONLY',
      allow_comment: 'yes',
      photo_cover_index: '1',
      image_urls: 'https://cdn.example.com/a.jpg\nhttps://cdn.example.com/b.jpg',
      consent: true,
    });
  });

  test('one consent withheld is consent false, never true', () => {
    expect(flatBody({ ...input, express_consent_given: false }).consent).toBe(false);
    expect(flatBody({ ...input, express_consent_given: 'no' }).consent).toBe(false);
    expect(flatBody({ account: 'a' }).consent).toBeUndefined();
  });

  test('the idempotency key: stable for a replay, new for other input or another Zap', () => {
    const bundle = { inputData: { account: 'a', caption: 'x' }, meta: { zap: { id: '42' } } };
    const key = idempotencyKey(bundle, 'create_post');
    expect(key).toMatch(/^zapier-42-[0-9a-f]{40}$/);
    expect(idempotencyKey({ ...bundle, inputData: { caption: 'x', account: 'a' } }, 'create_post')).toBe(key);
    expect(idempotencyKey({ ...bundle, inputData: { account: 'a', caption: 'y' } }, 'create_post')).not.toBe(key);
    expect(idempotencyKey({ ...bundle, meta: { zap: { id: '43' } } }, 'create_post')).not.toBe(key);
    expect(idempotencyKey({ ...bundle, inputData: { ...bundle.inputData, idempotency_key: 'order-7' } }, 'create_post')).toBe('order-7');
  });
});
