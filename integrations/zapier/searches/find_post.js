'use strict';

const { url } = require('../lib/http');

module.exports = {
  key: 'find_post',
  noun: 'Post',
  display: { label: 'Find Post', description: 'Finds a TikTok post by its id: its status and TikTok URL.' },
  operation: {
    inputFields: [{ key: 'id', label: 'Post ID', required: true }],
    perform: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, `/v1/tiktok/posts/${encodeURIComponent(bundle.inputData.id)}`),
        skipThrowForStatus: true,
      });
      // Not found is an empty search, which Zapier shows as "no result" (another tenant's post
      // answers the same 404).
      if (response.status === 404) return [];
      response.throwForStatus();
      return [response.data];
    },
    sample: {
      id: '6b0ef6a4000001651f71b43a',
      account: 'sandbox_public',
      status: 'published',
      kind: 'video',
      mode: 'now',
      tiktok_url: 'https://www.tiktok.com/@sandbox_public/video/7051731371844283142',
      error: null,
      error_code: null,
    },
  },
};
