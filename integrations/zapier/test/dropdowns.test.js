'use strict';

const { App, appTester, authData } = require('./helpers');

const creatorFields = App.creates.create_post.operation.inputFields.find((f) => typeof f === 'function');

test('accounts dropdown: the tenant accounts with a readable name', async () => {
  const accounts = await appTester(App.triggers.account.operation.perform, {
    authData: authData(),
    meta: { isFillingDynamicDropdown: true },
  });
  expect(accounts.map((a) => [a.id, a.name])).toEqual([
    ['sandbox_public', 'Sandbox Public Creator (@sandbox_public)'],
    ['sandbox_private', 'Sandbox Private Creator (@sandbox_private)'],
  ]);
  expect(App.creates.create_post.operation.inputFields[0]).toMatchObject({
    key: 'account',
    dynamic: 'account.id.name',
    altersDynamicFields: true,
  });
});

test('privacy levels come from the chosen account: sandbox_private has no PUBLIC level, no duet or stitch', async () => {
  const fields = await appTester(creatorFields, { authData: authData(), inputData: { account: 'sandbox_private' } });
  const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));
  expect(byKey.privacy.choices).toEqual([
    { value: 'FOLLOWER_OF_CREATOR', sample: 'FOLLOWER_OF_CREATOR', label: 'Followers' },
    { value: 'MUTUAL_FOLLOW_FRIENDS', sample: 'MUTUAL_FOLLOW_FRIENDS', label: 'Friends (followers you follow back)' },
    { value: 'SELF_ONLY', sample: 'SELF_ONLY', label: 'Only me' },
  ]);
  expect(byKey.allow_comment).toMatchObject({ type: 'boolean' });
  expect(byKey.allow_duet.choices.map((c) => c.value)).toEqual(['false']);
  expect(byKey.allow_stitch.choices.map((c) => c.value)).toEqual(['false']);
});

test('sandbox_public offers PUBLIC_TO_EVERYONE and every interaction', async () => {
  const fields = await appTester(creatorFields, { authData: authData(), inputData: { account: 'sandbox_public' } });
  const byKey = Object.fromEntries(fields.map((f) => [f.key, f]));
  expect(byKey.privacy.choices.map((c) => c.value)).toEqual(['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']);
  for (const key of ['allow_comment', 'allow_duet', 'allow_stitch']) expect(byKey[key].type).toBe('boolean');
});

test('no account chosen yet: no creator fields', async () => {
  expect(await appTester(creatorFields, { authData: authData(), inputData: {} })).toEqual([]);
});
