'use strict';

const { App, appTester, authData, gateway, unique } = require('./helpers');

const create = App.creates.create_post.operation;
const consent = { content_preview_confirmed: true, express_consent_given: true };

test('a video, published now, on the flat endpoint; the replayed step answers the same post', async () => {
  const tag = unique();
  const bundle = {
    authData: authData(),
    meta: { zap: { id: 'zap-1' } },
    inputData: {
      account: 'sandbox_public',
      caption: `New drop ${tag} #launch`,
      video_url: `https://cdn.example.com/drop-${tag}.mp4`,
      privacy: 'PUBLIC_TO_EVERYONE',
      allow_comment: true,
      allow_duet: 'true',
      allow_stitch: false,
      cover_timestamp_ms: 1500,
      ...consent,
    },
  };
  const post = await appTester(create.perform, bundle);
  expect(post).toEqual({
    id: expect.any(String),
    status: 'published',
    account: 'sandbox_public',
    kind: 'video',
    mode: 'now',
    tiktok_url: expect.stringMatching(/^https:\/\/www\.tiktok\.com\/@sandbox_public\/video\/\d+$/),
  });

  // Zapier replays the step: the same Zap and input, the same key, the same post.
  const replay = await appTester(create.perform, bundle);
  expect(replay).toEqual(post);
  const list = (await gateway('/v1/tiktok/posts?limit=100')).body.items;
  expect(list.filter((p) => p.id === post.id)).toHaveLength(1);
  const events = await gateway(`/v1/tiktok/posts/${post.id}/events`);
  expect(events.body.items.filter((e) => e.source === 'create')).toHaveLength(1);
  const record = await gateway(`/v1/tiktok/posts/${post.id}`);
  expect(record.body).toMatchObject({ id: post.id, kind: 'video', status: 'published' });
});

test('photos: a carousel from a list of URLs', async () => {
  const tag = unique();
  const post = await appTester(create.perform, {
    authData: authData(),
    inputData: {
      account: 'sandbox_public',
      title: `Trip ${tag}`,
      description: 'Full recap #travel',
      image_urls: [`https://cdn.example.com/p1-${tag}.jpg`, `https://cdn.example.com/p2-${tag}.jpg`],
      photo_cover_index: 1,
      auto_add_music: true,
      privacy: 'MUTUAL_FOLLOW_FRIENDS',
      allow_comment: false,
      ...consent,
    },
  });
  expect(post).toMatchObject({ status: 'published', account: 'sandbox_public', kind: 'photo', mode: 'now' });
});

test('an explicit idempotency key wins: the same key with other fields is refused, not posted', async () => {
  const tag = unique();
  const inputData = {
    account: 'sandbox_private',
    caption: `Keyed ${tag}`,
    video_url: `https://cdn.example.com/keyed-${tag}.mp4`,
    privacy: 'SELF_ONLY',
    allow_comment: true,
    allow_duet: 'false',
    allow_stitch: 'false',
    idempotency_key: `order-${tag}`,
    ...consent,
  };
  const first = await appTester(create.perform, { authData: authData(), inputData });
  const again = await appTester(create.perform, { authData: authData(), inputData: { ...inputData } });
  expect(again.id).toBe(first.id);
  const other = await appTester(create.perform, { authData: authData(), inputData: { ...inputData, caption: 'changed' } }).catch(
    (e) => JSON.parse(e.message),
  );
  expect(other).toMatchObject({ code: 'idempotency_key_reused', status: 422 });
});

test('find: a post by id, and an id that is not there is no result', async () => {
  const find = App.searches.find_post.operation;
  const [latest] = (await gateway('/v1/tiktok/posts?limit=1')).body.items;
  const found = await appTester(find.perform, { authData: authData(), inputData: { id: latest.id } });
  expect(found).toEqual([latest]);
  const missing = await appTester(find.perform, { authData: authData(), inputData: { id: 'no_such_post' } });
  expect(missing).toEqual([]);
});

test('validate: a valid post answers the exact Zernio payload it would send', async () => {
  const result = await appTester(App.creates.validate_post.operation.perform, {
    authData: authData(),
    inputData: {
      account: 'sandbox_public',
      caption: 'hello',
      video_url: 'https://cdn.example.com/b.mp4',
      privacy: 'PUBLIC_TO_EVERYONE',
      allow_comment: 'true',
      allow_duet: true,
      allow_stitch: 'no',
      ...consent,
    },
  });
  expect(result).toEqual({
    valid: true,
    warnings: [],
    // The media probe is off on the sandbox: nothing was read.
    media: [],
    zernio_payload: {
      content: 'hello',
      mediaItems: [{ type: 'video', url: 'https://cdn.example.com/b.mp4' }],
      platforms: [{ accountId: 'sandbox_public', platform: 'tiktok' }],
      publishNow: true,
      tiktokSettings: {
        allow_comment: true,
        allow_duet: true,
        allow_stitch: false,
        content_preview_confirmed: true,
        express_consent_given: true,
        privacy_level: 'PUBLIC_TO_EVERYONE',
      },
    },
  });
});

