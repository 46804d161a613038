'use strict';

// Everything the app's operations share: where the gateway is, how a request is authenticated,
// and how the gateway's RFC 9457 problems become the errors Zapier acts on.

const baseUrl = (bundle) => String(bundle.authData.base_url || '').trim().replace(/\/+$/, '');

const url = (bundle, path) => `${baseUrl(bundle)}${path}`;

const addApiKey = (request, z, bundle) => {
  if (bundle.authData && bundle.authData.api_key) {
    request.headers = request.headers || {};
    request.headers['X-API-Key'] = bundle.authData.api_key;
  }
  // core's own 429 handling would replace the gateway's detail with a generic sentence; the
  // mapping below keeps the detail and the same Retry-After.
  request.throwForThrottlingEarly = false;
  return request;
};

const parseProblem = (response) => {
  try {
    const body = JSON.parse(response.content);
    return body && typeof body === 'object' ? body : {};
  } catch (e) {
    return {};
  }
};

// One line per thing to fix: the problem's detail, then each violation with the gateway's own
// `fix`, so that the Zap's error says what to change without opening the gateway's docs.
const problemMessage = (problem, status) => {
  const lines = [];
  const head = problem.detail || problem.title || `the gateway answered HTTP ${status}`;
  lines.push(problem.code ? `${head} (${problem.code})` : head);
  if (problem.fix) lines.push(`Fix: ${problem.fix}`);
  // A post TikTok refused at once is still recorded: its id lets a later step look it up.
  if (problem.post_id) lines.push(`Post: ${problem.post_id}`);
  for (const error of Array.isArray(problem.errors) ? problem.errors : []) {
    const where = error.field ? `${error.field}: ` : '';
    const fix = error.fix ? ` Fix: ${error.fix}` : '';
    lines.push(`- ${where}${error.message || error.code}.${fix}`);
  }
  return lines.join('\n');
};

const retryAfterSecs = (response) => {
  const value = response.headers.get('retry-after');
  const secs = value === null || value === undefined ? NaN : parseInt(value, 10);
  return Number.isNaN(secs) ? null : secs;
};

// Zapier's conventions: a dead or under-scoped key is the connection's fault (ExpiredAuthError
// asks the user to reconnect); a limit is retried after Retry-After (ThrottledError); a post that
// already exists halts the run instead of failing it (replaying cannot help and nothing is
// wrong); every other 4xx or 5xx is an error carrying the gateway's code and status.
const mapErrors = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) return response;
  const problem = parseProblem(response);
  const message = problemMessage(problem, response.status);
  if (response.status === 401) throw new z.errors.ExpiredAuthError(message);
  if (response.status === 403 && problem.code === 'insufficient_scope') {
    throw new z.errors.ExpiredAuthError(message);
  }
  if (response.status === 429) throw new z.errors.ThrottledError(message, retryAfterSecs(response));
  if (response.status === 409 && problem.code === 'idempotency_conflict') {
    throw new z.errors.ThrottledError(message, retryAfterSecs(response) || 1);
  }
  if (response.status === 409 && problem.code === 'duplicate_content') {
    throw new z.errors.HaltedError(message);
  }
  throw new z.errors.Error(message, problem.code || `http_${response.status}`, response.status);
};

module.exports = { addApiKey, mapErrors, problemMessage, url };
