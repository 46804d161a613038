// The official Zernio Node SDKs, `@zernio/node` and `@getlatedev/node`, used unchanged against
// the gateway's Zernio-compatible surface; every test runs once per SDK (`node --test`).
//
// Run by scripts/sdk-test, which installs the pinned SDKs with `npm ci`; the gateway must
// already be running on the sandbox upstream.
//   GATEWAY_BASE_URL  e.g. http://127.0.0.1:8080 (the SDK is pointed at $GATEWAY_BASE_URL/api)
//   GATEWAY_API_KEY   a tenant key that may post to sandbox_public

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import * as zernioNode from '@zernio/node';
import * as lateNode from '@getlatedev/node';

const ACCOUNT_ID = 'sandbox_public';
const VIDEO_URL = 'https://cdn.example.com/sunset-video.mp4';
const PHOTO_URLS = ['https://cdn.example.com/beach-1.jpg', 'https://cdn.example.com/beach-2.jpg'];
const VIDEO_SETTINGS = {
  privacy_level: 'PUBLIC_TO_EVERYONE',
  allow_comment: true,
  allow_duet: true,
  allow_stitch: true,
  content_preview_confirmed: true,
  express_consent_given: true,
};
const PHOTO_SETTINGS = {
  privacy_level: 'PUBLIC_TO_EVERYONE',
  allow_comment: true,
  content_preview_confirmed: true,
  express_consent_given: true,
};
// Within the gateway's schedule horizon ([posts] schedule_horizon_days, a year by default).
const inDays = (days) =>
  new Date(Date.now() + days * 86400000).toISOString().slice(0, 10) + 'T09:00:00Z';
const FUTURE = inDays(30);
const LATER = inDays(60);

function env(name) {
  const value = (process.env[name] ?? '').trim();
  if (!value) throw new Error(`${name} is not set; run this through scripts/sdk-test`);
  return value;
}

const base = env('GATEWAY_BASE_URL').replace(/\/+$/, '');
const baseURL = base.endsWith('/api') ? base : `${base}/api`;
const unique = (text = 'Check out this amazing sunset! #sunset') => `${text} ${randomUUID()}`;
const video = (extra = {}) => ({
  content: unique(),
  mediaItems: [{ type: 'video', url: VIDEO_URL }],
  platforms: [{ platform: 'tiktok', accountId: ACCOUNT_ID }],
  tiktokSettings: { ...VIDEO_SETTINGS },
  ...extra,
});

/** The SDK's typed error of a call that must fail. */
async function failure(sdk, call) {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof sdk.ZernioApiError, `not the SDK's typed error: ${error}`);
    return error;
  }
  assert.fail('the call succeeded');
}

for (const [name, sdk] of [
  ['@zernio/node', zernioNode],
  ['@getlatedev/node', lateNode],
]) {
  describe(name, () => {
    const client = new sdk.Zernio({ apiKey: env('GATEWAY_API_KEY'), baseURL, timeout: 30000 });
    let published;
    let scheduled;

    before(async () => {
      published = (await client.posts.createPost({ body: video({ publishNow: true }) })).data.post;
      scheduled = (await client.posts.createPost({ body: video({ scheduledFor: FUTURE }) })).data.post;
    });

    test('accounts', async () => {
      const { data } = await client.accounts.listAccounts();
      const account = data.accounts.find((a) => a._id === ACCOUNT_ID);
      assert.ok(account, JSON.stringify(data));
      assert.equal(account.platform, 'tiktok');
      assert.equal(account.isActive, true);
      assert.equal(typeof data.hasAnalyticsAccess, 'boolean');
    });

    test('creator info', async () => {
      const { data } = await client.accounts.getTikTokCreatorInfo({
        path: { accountId: ACCOUNT_ID },
        query: { mediaType: 'video' },
      });
      assert.ok(data.privacyLevels.some((l) => l.value === 'PUBLIC_TO_EVERYONE'));
      const comment = data.postingLimits.interactionSettings.allow_comment;
      assert.deepEqual(Object.keys(comment).sort(), ['default', 'enabled', 'label', 'required']);
      for (const kind of data.commercialContentTypes) {
        assert.deepEqual(Object.keys(kind).sort(), ['label', 'requires', 'value']);
      }
    });

    test('create a video', () => {
      assert.ok(published._id);
      assert.equal(published.status, 'published');
      assert.equal(published.platforms[0].accountId, ACCOUNT_ID);
    });

    test('create a carousel', async () => {
      const { data, response } = await client.posts.createPost({
        body: {
          content: unique('Beach day'),
          mediaItems: PHOTO_URLS.map((url) => ({ type: 'image', url })),
          platforms: [{ platform: 'tiktok', accountId: ACCOUNT_ID }],
          tiktokSettings: { ...PHOTO_SETTINGS },
          publishNow: true,
        },
      });
      assert.equal(response.status, 201);
      assert.equal(data.post.mediaItems.length, 2);
    });

    test('create a Creator Inbox draft', async () => {
      const { data, response } = await client.posts.createPost({
        body: video({ publishNow: true, tiktokSettings: { ...VIDEO_SETTINGS, draft: true } }),
      });
      assert.equal(response.status, 201);
      assert.ok(data.post._id);
    });

    test('dry run creates nothing', async () => {
      const body = video({ publishNow: true, dryRun: true });
      const { data, response } = await client.posts.createPost({ body });
      assert.equal(response.status, 200);
      assert.equal(data.dryRun, true);
      assert.equal(data.canPublish, true);
      assert.equal(data.tiktok[0].accountId, ACCOUNT_ID);
      const listed = await client.posts.listPosts({ query: { limit: 500, sortBy: 'created-desc' } });
      assert.ok(!listed.data.posts.some((p) => p.content === body.content), 'a dry run made a post');
    });

    test('get', async () => {
      const { data } = await client.posts.getPost({ path: { postId: published._id } });
      assert.equal(data.post._id, published._id);
      assert.equal(data.post.content, published.content);
    });

    test('list with pagination', async () => {
      const first = (await client.posts.listPosts({ query: { page: 1, limit: 1, sortBy: 'created-desc' } })).data;
      assert.equal(first.pagination.limit, 1);
      assert.ok(first.pagination.total >= 2);
      assert.equal(first.pagination.pages, first.pagination.total);
      const second = (await client.posts.listPosts({ query: { page: 2, limit: 1, sortBy: 'created-desc' } })).data;
      assert.notEqual(second.posts[0]._id, first.posts[0]._id);
      const all = (await client.posts.listPosts({ query: { limit: 500 } })).data.posts;
      const mine = all.find((p) => p._id === published._id);
      assert.ok(mine && all.some((p) => p._id === scheduled._id));
      assert.deepEqual(mine.mediaItems, [{ type: 'video', url: VIDEO_URL }]);
    });

    test('update', async () => {
      const { data } = await client.posts.updatePost({
        path: { postId: scheduled._id },
        body: { content: unique('Rescheduled'), scheduledFor: LATER },
      });
      assert.equal(data.post._id, scheduled._id);
    });

    test('delete', async () => {
      const post = (await client.posts.createPost({ body: video({ scheduledFor: FUTURE }) })).data.post;
      const { data } = await client.posts.deletePost({ path: { postId: post._id } });
      assert.ok(data.message);
    });

    test('retry a failed post', async () => {
      // The sandbox fails a media URL on a host under .invalid as TikTok's download failure.
      const { data, response } = await client.posts.createPost({
        body: {
          ...video({ publishNow: true }),
          mediaItems: [{ type: 'video', url: 'https://media.invalid/broken.mp4' }],
        },
      });
      assert.equal(response.status, 207);
      assert.equal(data.post.status, 'failed');
      const retried = await client.posts.retryPost({ path: { postId: data.post._id } });
      assert.ok(retried.data.message);
    });

    test('analytics', async () => {
      const { data } = await client.analytics.getAnalytics({ query: { platform: 'tiktok', accountId: ACCOUNT_ID } });
      assert.ok(Array.isArray(data.posts) && data.pagination, JSON.stringify(data));
      const single = await client.analytics.getAnalytics({ query: { postId: published._id } });
      assert.ok([200, 202].includes(single.response.status), `${single.response.status}`);
      assert.equal(single.data.postId, published._id);
    });

    test('presign', async () => {
      const { data } = await client.media.getMediaPresignedUrl({
        body: { filename: 'clip.mp4', contentType: 'video/mp4', size: 1024 },
      });
      assert.match(data.uploadUrl, /^http/);
      assert.match(data.publicUrl, /^http/);
    });

    test('a broken post is a typed 400 with its code', async () => {
      const error = await failure(sdk, () =>
        client.posts.createPost({ body: video({ publishNow: true, tiktokSettings: { allow_comment: true } }) }),
      );
      assert.equal(error.statusCode, 400);
      assert.equal(error.code, 'validation_failed');
      assert.equal(error.type, 'invalid_request_error');
      assert.ok(error.param);
      assert.ok(error.details.errors.length > 0);
      assert.match(error.message, /Fix:/);
    });

    test('an account of another tenant is a typed 403', async () => {
      const error = await failure(sdk, () =>
        client.posts.createPost({
          body: video({ publishNow: true, platforms: [{ platform: 'tiktok', accountId: 'acc_of_nobody' }] }),
        }),
      );
      assert.equal(error.statusCode, 403);
      assert.ok(error.isForbidden());
    });

    test('an unknown post is a typed 404', async () => {
      const error = await failure(sdk, () => client.posts.getPost({ path: { postId: 'no_such_post' } }));
      assert.ok(error.isNotFound());
      assert.equal(error.code, 'not_found');
    });

    test('a wrong key is a typed 401', async () => {
      const intruder = new sdk.Zernio({ apiKey: `tgw_${randomUUID()}`, baseURL });
      const error = await failure(sdk, () => intruder.accounts.listAccounts());
      assert.ok(error.isAuthError());
      assert.equal(error.code, 'invalid_credentials');
    });
  });
}
