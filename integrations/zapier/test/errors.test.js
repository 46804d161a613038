'use strict';

// Each of the gateway's refusals as the Zapier error it becomes.

const { App, appTester, authData, gateway, caught, unique, env } = require('./helpers');

const create = App.creates.create_post.operation;
const consent = { content_preview_confirmed: true, express_consent_given: true };

test('a 422 is a Zapier error listing each broken rule with the gateway fix', async () => {
  const error = await caught(
    appTester(create.perform, {
      authData: authData(),
      inputData: { account: 'sandbox_private', caption: 'x', video_url: 'http://cdn.example.com/a.mp4', privacy: 'SELF_ONLY' },
    }),
  );
  expect(error).toEqual({
    name: 'AppError',
    code: 'validation_failed',
    status: 422,
    message: [
      '5 rules are broken; `errors` lists each with its fix (validation_failed)',
      '- video_url: video_url uses http: TikTok fetches media over https only. Fix: Serve the file over https.',
      "- consent: consent (content_preview_confirmed and express_consent_given) is missing; TikTok requires it to be true (a legal requirement), and the gateway never sets it for the caller. Fix: Show the creator the post's preview, get their express consent to publish, then set consent to true.",
      '- allow_comment: allow_comment is missing; TikTok requires the creator to choose whether to allow comments. Fix: Set allow_comment to true or false, as the creator chose.',
      '- allow_duet: allow_duet is missing; TikTok requires the creator to choose whether to allow duets. Fix: Set allow_duet to true or false, as the creator chose.',
      '- allow_stitch: allow_stitch is missing; TikTok requires the creator to choose whether to allow stitches. Fix: Set allow_stitch to true or false, as the creator chose.',
    ].join('\n'),
  });
});

test('validate: a broken post fails the step with the same fixes', async () => {
  const error = await caught(
    appTester(App.creates.validate_post.operation.perform, {
      authData: authData(),
      inputData: { account: 'sandbox_private', caption: 'x', video_url: 'https://cdn.example.com/a.mp4', privacy: 'PUBLIC_TO_EVERYONE', allow_comment: true, allow_duet: false, allow_stitch: false, ...consent },
    }),
  );
  expect(error).toMatchObject({ name: 'AppError', code: 'validation_failed', status: 422 });
  // Named by the fields the user filled in, as the create would name them.
  expect(error.message.split('\n').slice(1).map((line) => line.split(':')[0])).toEqual(['- privacy']);
  expect(error.message).toMatch(/^- privacy: .*FOLLOWER_OF_CREATOR.* Fix: /m);
});

test('a 409 duplicate halts the run, naming the existing post', async () => {
  const tag = unique();
  const inputData = {
    account: 'sandbox_public',
    caption: `Dup ${tag}`,
    video_url: `https://cdn.example.com/dup-${tag}.mp4`,
    privacy: 'SELF_ONLY',
    allow_comment: true,
    allow_duet: true,
    allow_stitch: true,
    ...consent,
  };
  const first = await appTester(create.perform, { authData: authData(), inputData: { ...inputData, idempotency_key: `a-${tag}` } });
  const error = await caught(appTester(create.perform, { authData: authData(), inputData: { ...inputData, idempotency_key: `b-${tag}` } }));
  expect(error).toEqual({
    name: 'HaltedError',
    message: `the same account, caption and media were posted in the last 24 hours as post \`${first.id}\`; TikTok would refuse it. Modify the caption or media (duplicate_content)`,
  });
});

test('a 403 for an account of another tenant is a Zapier error', async () => {
  const error = await caught(
    appTester(create.perform, { authData: authData(), inputData: { account: 'someone_else', video_url: 'https://cdn.example.com/x.mp4' } }),
  );
  expect(error).toMatchObject({ name: 'AppError', status: 403, code: 'account_not_allowed' });
  expect(error.message).toBe('account `someone_else` does not belong to your tenant (account_not_allowed)');
});

test('a 429 rate limit is a ThrottledError with the Retry-After delay', async () => {
  const key = env('GATEWAY_THROTTLED_KEY');
  // The tenant may send one request a minute: spend it, then the app is refused.
  expect((await gateway('/v1/me', { key })).status).toBe(200);
  const error = await caught(appTester(App.authentication.test, { authData: authData(key) }));
  expect(error.name).toBe('ThrottledError');
  expect(error.message).toMatch(/^your request rate is over the limit; retry in (\d+) s \(rate_limited\)$/);
  const secs = Number(error.message.match(/retry in (\d+) s/)[1]);
  expect(error.delay).toBe(secs);
  expect(secs).toBeGreaterThan(0);
  expect(secs).toBeLessThanOrEqual(60);
});

test("a 429 from the account's daily cap is a ThrottledError too, with hours of delay", async () => {
  const cap = Number(env('GATEWAY_DAILY_CAP'));
  const tag = unique();
  const photo = (i) => ({
    account: 'sandbox_private',
    title: `cap ${tag} ${i}`,
    image_urls: `https://cdn.example.com/cap-${tag}-${i}.jpg`,
    privacy: 'SELF_ONLY',
    allow_comment: true,
    ...consent,
  });
  for (let i = 0; i < cap; i += 1) await appTester(create.perform, { authData: authData(), inputData: photo(i) });
  const error = await caught(appTester(create.perform, { authData: authData(), inputData: photo(cap) }));
  expect(error.name).toBe('ThrottledError');
  expect(error.message).toBe(
    'You have created too many posts in the last 24 hours via the API. (daily_limit_reached)\n' +
      'Fix: Wait until limit resets (24h rolling) or post directly in TikTok app.',
  );
  expect(error.delay).toBeGreaterThan(3600);
});
