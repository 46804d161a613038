'use strict';

const { url } = require('../lib/http');

// Hidden: feeds the account dropdowns.
module.exports = {
  key: 'account',
  noun: 'Account',
  display: { label: 'TikTok Accounts', description: "Your tenant's TikTok accounts.", hidden: true },
  operation: {
    perform: async (z, bundle) => {
      const response = await z.request({ url: url(bundle, '/v1/tiktok/accounts') });
      return ((response.data && response.data.items) || []).map((account) => ({
        ...account,
        name: account.display_name ? `${account.display_name} (@${account.username})` : account.id,
      }));
    },
    sample: { id: 'sandbox_public', username: 'sandbox_public', name: 'Sandbox Public Creator (@sandbox_public)' },
  },
};
