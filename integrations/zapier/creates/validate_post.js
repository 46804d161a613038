'use strict';

const { url } = require('../lib/http');
const { inputFields, flatBody } = require('../lib/post_fields');

// The same fields, read by the gateway exactly as the create reads them, so a Zap can check a
// post before it spends one of the account's daily slots. A broken rule fails the step with
// every violation, named by its field, and its fix.
module.exports = {
  key: 'validate_post',
  noun: 'Post',
  display: {
    label: 'Validate TikTok Post',
    description: "Checks a post against TikTok's rules and the creator's settings without posting it.",
  },
  operation: {
    inputFields: inputFields.filter((f) => typeof f === 'function' || f.key !== 'idempotency_key'),
    perform: async (z, bundle) => {
      const response = await z.request({
        url: url(bundle, '/v1/hooks/tiktok/posts/validate'),
        method: 'POST',
        body: flatBody(bundle.inputData),
      });
      return response.data;
    },
    sample: { valid: true, warnings: [], zernio_payload: {} },
    outputFields: [{ key: 'valid', label: 'Valid', type: 'boolean' }],
  },
};
