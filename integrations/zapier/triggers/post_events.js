'use strict';

// REST Hook triggers on the gateway's webhook subscriptions, with the post list as Zapier's
// sample data and polling fallback.

const { url } = require('../lib/http');
const { verify } = require('../lib/signature');

const sample = {
  id: '6b0ef6a4000001651f71b43a',
  event: 'post.published',
  account: 'sandbox_public',
  status: 'published',
  tiktok_url: 'https://www.tiktok.com/@sandbox_public/video/7051731371844283142',
  error: null,
  metadata: null,
};

const outputFields = [
  { key: 'id', label: 'Post ID' },
  { key: 'event', label: 'Event' },
  { key: 'account', label: 'Account' },
  { key: 'status', label: 'Status' },
  { key: 'tiktok_url', label: 'TikTok URL' },
  { key: 'error__code', label: 'Error code' },
  { key: 'error__message', label: 'Error message' },
];

const subscribe = (events) => async (z, bundle) => {
  const response = await z.request({
    url: url(bundle, '/v1/webhooks/subscriptions'),
    method: 'POST',
    body: { target_url: bundle.targetUrl, events },
  });
  // Zapier keeps this as bundle.subscribeData: the id to unsubscribe and the secret to verify
  // deliveries with (the gateway shows it this once).
  return response.data;
};

const unsubscribe = async (z, bundle) => {
  const id = bundle.subscribeData && bundle.subscribeData.id;
  const response = await z.request({
    url: url(bundle, `/v1/webhooks/subscriptions/${encodeURIComponent(id)}`),
    method: 'DELETE',
    skipThrowForStatus: true,
  });
  // Already gone (a 410 to a delivery deletes it) is what unsubscribing wants.
  if (response.status === 404) return {};
  response.throwForStatus();
  return {};
};

const perform = (z, bundle) => {
  const secret = bundle.subscribeData && bundle.subscribeData.secret;
  if (secret) {
    const raw = bundle.rawRequest || {};
    const refused = verify(secret, raw.headers, raw.content);
    if (refused) throw new z.errors.Error(`Webhook refused: ${refused}`, 'invalid_signature', 401);
  }
  const body = bundle.cleanedRequest || {};
  const data = body.data && typeof body.data === 'object' ? body.data : {};
  if (!data.id) return [];
  return [{ ...data, event: body.type, event_timestamp: body.timestamp }];
};

const performList = (statuses) => async (z, bundle) => {
  const params = { limit: 50 };
  if (statuses.length === 1) params.status = statuses[0];
  const response = await z.request({ url: url(bundle, '/v1/tiktok/posts'), params });
  const items = (response.data && response.data.items) || [];
  return items
    .filter((post) => statuses.includes(post.status))
    .map((post) => ({ ...post, event: `post.${post.status}` }));
};

const trigger = ({ key, noun, label, description, events, statuses }) => ({
  key,
  noun,
  display: { label, description },
  operation: {
    type: 'hook',
    performSubscribe: subscribe(events),
    performUnsubscribe: unsubscribe,
    perform,
    performList: performList(statuses),
    sample,
    outputFields,
  },
});

module.exports = {
  published: trigger({
    key: 'post_published_or_failed',
    noun: 'Post',
    label: 'Post Published or Failed',
    description: 'Triggers when a TikTok post is published, or fails to publish.',
    events: ['post.published', 'post.failed'],
    statuses: ['published', 'failed'],
  }),
  scheduled: trigger({
    key: 'post_scheduled',
    noun: 'Post',
    label: 'Post Scheduled',
    description: 'Triggers when a TikTok post is scheduled.',
    events: ['post.scheduled'],
    statuses: ['scheduled'],
  }),
};
