'use strict';

// What every suite shares: the app under Zapier's app tester, the gateway scripts/zapier-test
// started (its URL and keys come in the environment), and the shapes of the errors core throws.

const zapier = require('zapier-platform-core');
const App = require('../index');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with scripts/zapier-test`);
  return value;
};

const baseUrl = env('GATEWAY_BASE_URL');
const apiKey = env('GATEWAY_API_KEY');

const appTester = zapier.createAppTester(App);
const authData = (key = apiKey) => ({ base_url: baseUrl, api_key: key });

// Straight to the gateway, outside the app: what the tests check the app's effects with.
const gateway = async (path, { method = 'GET', key = apiKey, body } = {}) => {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'X-API-Key': key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
};

// core throws AppError and ThrottledError with their fields as JSON in the message.
const caught = async (promise) => {
  try {
    await promise;
  } catch (error) {
    let fields = {};
    try {
      fields = JSON.parse(error.message);
    } catch (e) {
      fields = { message: error.message };
    }
    // Errors without doNotContextify get core's "What happened:" trailer; the tests compare what
    // the gateway said.
    if (typeof fields.message === 'string') fields.message = fields.message.split('\nWhat happened:')[0];
    return { name: error.name, ...fields };
  }
  throw new Error('expected the call to fail, and it succeeded');
};

const unique = () => `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

module.exports = { App, appTester, authData, baseUrl, gateway, caught, unique, env };
