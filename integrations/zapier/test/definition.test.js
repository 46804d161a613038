'use strict';

// The app's definition against Zapier's own schema, as `zapier validate` checks it (the script
// runs the CLI too, where Node 22 is available).

const { prepareApp, serializeApp } = require('zapier-platform-core/src/tools/schema');
const { validateAppDefinition } = require('zapier-platform-schema');
const App = require('../index');

const errorsOf = (app) => validateAppDefinition(serializeApp(prepareApp(app))).errors.map((e) => e.stack);

test('the definition is valid under zapier-platform-schema', () => {
  expect(errorsOf(App)).toEqual([]);
});

test('the validation can fail: a trigger without its noun and a bad key are refused', () => {
  const broken = { ...App, triggers: { ...App.triggers, 'bad key!': { ...App.triggers.account, key: 'bad key!', noun: undefined } } };
  const errors = errorsOf(broken);
  expect(errors.length).toBeGreaterThan(0);
  expect(errors.join('\n')).toMatch(/noun|key/);
});

test('the app offers the two triggers, the two actions and the search', () => {
  expect(Object.keys(App.triggers).sort()).toEqual(['account', 'post_published_or_failed', 'post_scheduled']);
  expect(Object.keys(App.creates).sort()).toEqual(['create_post', 'validate_post']);
  expect(Object.keys(App.searches)).toEqual(['find_post']);
  expect(App.searchOrCreates).toBeUndefined(); // "create if not found" is off
});
