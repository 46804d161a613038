'use strict';

// The post's input fields, shared by "Create TikTok Post" and "Validate TikTok Post", and the
// body both send (the gateway's flat automation shape).

const crypto = require('crypto');
const { url } = require('./http');

const PRIVACY_LABELS = {
  PUBLIC_TO_EVERYONE: 'Everyone',
  MUTUAL_FOLLOW_FRIENDS: 'Friends (followers you follow back)',
  FOLLOWER_OF_CREATOR: 'Followers',
  SELF_ONLY: 'Only me',
};

// TikTok's Content Posting guidelines: the creator confirms the preview and agrees in these words.
const MUSIC_CONSENT =
  "By posting, you agree to TikTok's Music Usage Confirmation (and, for branded content, its Branded Content Policy).";

// The creator's own settings decide what can be picked: only the privacy levels TikTok allows
// this account, and an interaction the creator disabled can only be off.
const creatorFields = async (z, bundle) => {
  const account = bundle.inputData.account;
  if (!account) return [];
  const response = await z.request({
    url: url(bundle, `/v1/tiktok/accounts/${encodeURIComponent(account)}/creator-info`),
  });
  const info = response.data || {};
  const levels = Array.isArray(info.privacy_levels) ? info.privacy_levels : [];
  const toggle = (key, label, disabled) =>
    disabled
      ? {
          key,
          label,
          required: true,
          choices: [{ value: 'false', sample: 'false', label: `Off (${info.nickname || account} disabled it)` }],
          default: 'false',
        }
      : { key, label, type: 'boolean', required: false, helpText: 'Required for videos.' };
  return [
    {
      key: 'privacy',
      label: 'Who can view',
      required: false,
      helpText: 'Only the levels this creator allows are listed. Required unless the post is a Creator Inbox draft.',
      choices: levels.map((level) => ({ value: level, sample: level, label: PRIVACY_LABELS[level] || level })),
    },
    toggle('allow_comment', 'Allow comments', info.comment_disabled),
    toggle('allow_duet', 'Allow duets (videos)', info.duet_disabled),
    toggle('allow_stitch', 'Allow stitches (videos)', info.stitch_disabled),
  ];
};

const inputFields = [
  {
    key: 'account',
    label: 'TikTok account',
    required: true,
    dynamic: 'account.id.name',
    altersDynamicFields: true,
  },
  { key: 'video_url', label: 'Video URL', helpText: 'A direct https link to an .mp4, .mov or .webm file. Give this or Photo URLs.' },
  { key: 'image_urls', label: 'Photo URLs', list: true, helpText: 'Direct https links to the photos (up to 35) of a carousel.' },
  { key: 'caption', label: 'Caption', type: 'text', helpText: 'The video caption (up to 2,200 characters).' },
  { key: 'title', label: 'Photo title', helpText: 'Photo posts: up to 90 characters.' },
  { key: 'description', label: 'Photo description', type: 'text', helpText: 'Photo posts: up to 4,000 characters.' },
  creatorFields,
  { key: 'auto_add_music', label: 'Add recommended music (photos)', type: 'boolean', required: false },
  { key: 'ai_generated', label: 'Made with AI', type: 'boolean', required: false },
  {
    key: 'commercial',
    label: 'Commercial content',
    required: false,
    choices: [
      { value: 'none', sample: 'none', label: 'None' },
      { value: 'brand_organic', sample: 'brand_organic', label: 'Your brand' },
      { value: 'brand_content', sample: 'brand_content', label: 'Branded content (paid partnership)' },
    ],
  },
  { key: 'cover_timestamp_ms', label: 'Cover frame (ms into the video)', type: 'integer', required: false },
  { key: 'photo_cover_index', label: 'Cover photo (0 = first)', type: 'integer', required: false },
  { key: 'schedule_at', label: 'Schedule at', type: 'datetime', required: false, helpText: 'Empty: publish now.' },
  { key: 'timezone', label: 'Time zone of a local schedule time', required: false },
  { key: 'draft', label: 'Send to the Creator Inbox (draft)', type: 'boolean', required: false },
  {
    key: 'content_preview_confirmed',
    label: 'The creator has previewed this post',
    type: 'boolean',
    required: false,
    helpText: 'TikTok requires the creator to see the content before it is posted. The gateway never sets this for you.',
  },
  {
    key: 'express_consent_given',
    label: 'The creator consents to publish',
    type: 'boolean',
    required: false,
    helpText: MUSIC_CONSENT,
  },
  {
    key: 'idempotency_key',
    label: 'Idempotency key',
    required: false,
    helpText:
      'Leave empty: one is derived from the Zap and these fields, so a replayed step never posts twice. Map an id here to decide yourself what counts as the same post.',
  },
];

// Zapier's booleans arrive as true/false or as the text a user typed; the gateway reads both
// (true/yes/1, false/no/0) and names a field it cannot read, so only consent is decided here.
const TRUE = new Set(['true', 'yes', '1']);
const bool = (value) => value === true || TRUE.has(String(value).trim().toLowerCase());
const given = (value) => value !== undefined && value !== null && value !== '';

const urlsOf = (value) => {
  if (!given(value)) return [];
  const list = Array.isArray(value) ? value : String(value).split(/[\n,]/);
  return list.map((u) => String(u).trim()).filter(Boolean);
};

// The flat shape's one `consent` asserts both of TikTok's flags: true only when the user gave both.
const consentOf = (input) =>
  given(input.content_preview_confirmed) || given(input.express_consent_given)
    ? bool(input.content_preview_confirmed) && bool(input.express_consent_given)
    : undefined;

const SCALARS = ['account', 'caption', 'title', 'description', 'privacy', 'commercial', 'schedule_at', 'timezone'];
const BOOLS = ['allow_comment', 'allow_duet', 'allow_stitch', 'auto_add_music', 'ai_generated', 'draft'];
const INTS = ['cover_timestamp_ms', 'photo_cover_index'];

const flatBody = (input) => {
  const body = {};
  for (const key of [...SCALARS, ...BOOLS, ...INTS]) if (given(input[key])) body[key] = input[key];
  if (given(input.video_url)) body.video_url = input.video_url;
  const photos = urlsOf(input.image_urls);
  if (photos.length) body.image_urls = photos.join('\n');
  const consent = consentOf(input);
  if (consent !== undefined) body.consent = consent;
  return body;
};

// Zapier (core 19) gives an action no step or run id; what a replay of a step does repeat is
// its Zap and its input. Keying on both makes a replayed step answer the first post; a new
// run with the same input within 24 h would be TikTok's duplicate content anyway.
const idempotencyKey = (bundle, action) => {
  const input = bundle.inputData || {};
  if (given(input.idempotency_key)) return String(input.idempotency_key);
  const zap = (bundle.meta && bundle.meta.zap && bundle.meta.zap.id) || 'no-zap';
  const fields = Object.keys(input)
    .filter((k) => k !== 'idempotency_key')
    .sort()
    .map((k) => [k, input[k]]);
  const digest = crypto.createHash('sha256').update(JSON.stringify([zap, action, fields])).digest('hex');
  return `zapier-${zap}-${digest.slice(0, 40)}`;
};

module.exports = { inputFields, flatBody, idempotencyKey, PRIVACY_LABELS };
