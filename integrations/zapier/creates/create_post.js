'use strict';

const { url } = require('../lib/http');
const { inputFields, flatBody, idempotencyKey } = require('../lib/post_fields');

module.exports = {
  key: 'create_post',
  noun: 'Post',
  display: {
    label: 'Create TikTok Post',
    description: 'Publishes a video or a photo carousel to TikTok now, on a schedule, or to the Creator Inbox.',
  },
  operation: {
    inputFields,
    perform: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, '/v1/hooks/tiktok/posts'),
        method: 'POST',
        headers: { 'Idempotency-Key': idempotencyKey(bundle, 'create_post') },
        body: flatBody(bundle.inputData),
      });
      return response.data;
    },
    sample: {
      id: '6b0ef6a4000001651f71b43a',
      status: 'published',
      account: 'sandbox_public',
      kind: 'video',
      mode: 'now',
      tiktok_url: 'https://www.tiktok.com/@sandbox_public/video/7051731371844283142',
    },
    outputFields: [
      { key: 'id', label: 'Post ID' },
      { key: 'status', label: 'Status' },
      { key: 'account', label: 'Account' },
      { key: 'kind', label: 'Kind' },
      { key: 'mode', label: 'Mode' },
      { key: 'tiktok_url', label: 'TikTok URL' },
    ],
  },
};
