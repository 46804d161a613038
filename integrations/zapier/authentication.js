'use strict';
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
  test: { url: '{{bundle.authData.base_url}}/v1/me', method: 'GET' },
  connectionLabel: (z, bundle) =>
    bundle.inputData.credential_id
      ? `${bundle.inputData.tenant} (${bundle.inputData.credential_id})`
      : bundle.inputData.tenant,
};
