'use strict';

const { version: platformVersion } = require('zapier-platform-core');
const { version } = require('./package.json');

const authentication = require('./authentication');
const { addApiKey, mapErrors } = require('./lib/http');
const postEvents = require('./triggers/post_events');
const accounts = require('./triggers/accounts');
const createPost = require('./creates/create_post');
const validatePost = require('./creates/validate_post');
const findPost = require('./searches/find_post');

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addApiKey],
  afterResponse: [mapErrors],
  triggers: {
    [postEvents.published.key]: postEvents.published,
    [postEvents.scheduled.key]: postEvents.scheduled,
    [accounts.key]: accounts,
  },
  creates: {
    [createPost.key]: createPost,
    [validatePost.key]: validatePost,
  },
  searches: {
    [findPost.key]: findPost,
  },
};
