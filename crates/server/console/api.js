// The OMS API as the console calls it: the token rides in X-Auth-Token, never in a URL, and
// lives in sessionStorage only (gone when the tab closes; not shared with other tabs).

const PROJECT_KEY = 'tern.project_id';
const TOKEN_KEY = 'tern.token';

/** The signed-in project and token, or null. */
export function session() {
  const projectId = sessionStorage.getItem(PROJECT_KEY);
  const token = sessionStorage.getItem(TOKEN_KEY);
  return projectId && token ? { projectId, token } : null;
}

/** Remembers the session for this tab. */
export function signIn(projectId, token) {
  sessionStorage.setItem(PROJECT_KEY, projectId);
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** Forgets the session. */
export function signOut() {
  sessionStorage.removeItem(PROJECT_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API refusal: the HTTP status and the OMS error_code / error_msg. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthenticated = () => {};

/** What to do when the server answers 401 (the token was revoked or mistyped). */
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

/**
 * Calls `/v2/{project_id}` + path. Resolves to the JSON body (null when empty); rejects with
 * ApiError carrying the OMS error_msg.
 */
export async function api(method, path, body, explicit) {
  const current = explicit ?? session();
  if (!current) throw new ApiError(401, 'APIGW.0301', 'not logged in');
  const headers = { 'X-Auth-Token': current.token, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json;charset=utf-8';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/v2/${encodeURIComponent(current.projectId)}${path}`, init);
  } catch (err) {
    throw new ApiError(0, 'network', `the server cannot be reached (${err.message})`);
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json?.error_code ?? `HTTP ${response.status}`,
      json?.error_msg ?? `the server answered ${response.status}`);
    if (response.status === 401 && !explicit) onUnauthenticated(error);
    throw error;
  }
  return json;
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Runs `tick` now and then every `ms` after each run ends; returns a function that stops it. */
export function every(ms, tick) {
  let stopped = false;
  let timer;
  const run = async () => {
    try { await tick(); } finally {
      if (!stopped) timer = setTimeout(run, ms);
    }
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}
