'use strict';

// Standard Webhooks verification of the gateway's deliveries: `webhook-signature` holds
// space-separated `v1,<base64 HMAC-SHA256>` of "{webhook-id}.{webhook-timestamp}.{body}", keyed
// with the base64-decoded part of the subscription's `whsec_` secret.

const crypto = require('crypto');

// Wider than the standard's 5 minutes: Zapier may queue a hook before running `perform`, and a
// replayed old body could only repeat an event Zapier de-duplicates on `id` anyway.
const TOLERANCE_SECS = 60 * 60;

// Zapier hands the raw headers over as `Http-Webhook-Id`; a plain name is accepted too.
const header = (headers, name) => {
  for (const [key, value] of Object.entries(headers || {})) {
    const k = key.toLowerCase();
    if (k === name || k === `http-${name}`) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
};

// Returns null when the delivery is authentic, otherwise why it is not.
const verify = (secret, headers, body, nowSecs = Math.floor(Date.now() / 1000)) => {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) return 'the delivery carries no Standard Webhooks signature';
  if (!/^\d+$/.test(String(timestamp))) return 'webhook-timestamp is not a Unix time';
  if (Math.abs(nowSecs - Number(timestamp)) > TOLERANCE_SECS) {
    return 'webhook-timestamp is too far from now';
  }
  if (typeof secret !== 'string' || !secret.startsWith('whsec_')) return 'the secret is not a whsec_ secret';
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = crypto
    .createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(typeof body === 'string' ? body : '')
    .digest();
  for (const part of String(signatures).split(' ')) {
    const [version, value] = part.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (given.length === expected.length && crypto.timingSafeEqual(given, expected)) return null;
  }
  return 'the signature does not match the body';
};

module.exports = { header, verify };
