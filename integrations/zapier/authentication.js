'use strict';

const { url } = require('./lib/http');

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'base_url',
      label: 'Gateway URL',
      type: 'string',
      required: true,
      helpText: "The gateway's root, e.g. `https://tiktok-gateway.example.com` (no path).",
    },
    {
      key: 'api_key',
      label: 'API key',
      type: 'password',
      required: true,
      helpText:
        'A `tgw_` key of your tenant, with the scopes posts:read, posts:write and webhooks:manage.',
    },
  ],
  // A function, not a request template: a base URL typed with a trailing slash still works.
  test: async (z, bundle) => (await z.request({ url: url(bundle, '/v1/me') })).data,
  connectionLabel: (z, bundle) =>
    bundle.inputData.credential_id
      ? `${bundle.inputData.tenant} (${bundle.inputData.credential_id})`
      : bundle.inputData.tenant,
};
