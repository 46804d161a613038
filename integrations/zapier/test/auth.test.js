'use strict';

const { App, appTester, authData, caught, env } = require('./helpers');

test('the connection test calls /v1/me and labels the connection with the tenant', async () => {
  const me = await appTester(App.authentication.test, { authData: authData() });
  expect(me).toEqual({
    tenant: 'zapier',
    scopes: ['posts:write', 'posts:read', 'webhooks:manage'],
    accounts: ['sandbox_public', 'sandbox_private'],
    credential: 'api_key',
    credential_id: 'zapier',
  });
  const label = await appTester(App.authentication.connectionLabel, { authData: authData(), inputData: me });
  expect(label).toBe('zapier (zapier)');
  // A URL typed with a trailing slash (or spaces) is the same gateway.
  const again = await appTester(App.authentication.test, { authData: { ...authData(), base_url: ` ${authData().base_url}/ ` } });
  expect(again).toEqual(me);
});

test('a bad key fails the connection test as an expired connection, with the gateway words', async () => {
  const error = await caught(appTester(App.authentication.test, { authData: authData('tgw_not_a_key') }));
  expect(error).toEqual({ name: 'ExpiredAuthError', message: 'the API key is not known (invalid_api_key)' });
});

test('a key without the scope is an auth error that names the scope', async () => {
  const error = await caught(
    appTester(App.creates.create_post.operation.perform, {
      authData: authData(env('GATEWAY_READONLY_KEY')),
      inputData: { account: 'sandbox_public', video_url: 'https://cdn.example.com/x.mp4' },
    }),
  );
  expect(error).toEqual({
    name: 'ExpiredAuthError',
    message: 'this operation needs the `posts:write` scope, which the credential does not carry (insufficient_scope)',
  });
});
