// The gateway's REST API from the browser: signing in, tokens, requests, errors.
//
// The session (access token, refresh token, user) is kept in localStorage so
// every tab shares it. Refresh tokens rotate and a refresh token used twice
// revokes the whole session, so two tabs must never refresh with the same
// one: refreshing happens under a Web Lock, and a tab that gets the lock
// after another tab refreshed finds the new pair already stored and uses it.

const PREFIX = "/api/v1";
const SESSION_KEY = "upcast.session";
const EARLY_REFRESH_SECONDS = 30;

/** A request the gateway refused, with its status, message and field problems. */
export class ApiError extends Error {
  constructor(status, message, fields = [], retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

/** The gateway could not be reached at all: offline, or the server is down. */
export class Offline extends Error {
  constructor(cause) {
    super("the gateway cannot be reached");
    this.name = "Offline";
    this.cause = cause;
  }
}

const listeners = new Set();

/** Call fn(session or null) whenever the session starts, changes or ends. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function announce() {
  const current = session();
  for (const fn of listeners) fn(current);
}

window.addEventListener("storage", (event) => {
  if (event.key === SESSION_KEY) announce();
});

/** The stored session: {access, accessExpires, refresh, user, sessionId}. */
export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function keep(pair) {
  const now = Date.now() / 1000;
  const stored = {
    access: pair.access_token,
    accessExpires: now + pair.expires_in,
    refresh: pair.refresh_token,
    user: pair.user,
    sessionId: pair.session_id,
  };
  localStorage.setItem(SESSION_KEY, JSON.stringify(stored));
  announce();
  return stored;
}

function forget() {
  localStorage.removeItem(SESSION_KEY);
  announce();
}

/** Sign in with a name and password; raises ApiError when refused. */
export async function login(name, password) {
  const pair = await send("POST", "/auth/login", { body: { name, password } }, null);
  return keep(pair);
}

/** Sign out: the session is revoked on the server and forgotten here. */
export async function logout() {
  try {
    await request("POST", "/auth/logout");
  } catch {
    // The session is forgotten here whatever the server says.
  } finally {
    forget();
  }
}

/** An access token that is valid now, refreshed first if it is about to expire. */
export async function accessToken() {
  const current = session();
  if (!current) return null;
  if (current.accessExpires - EARLY_REFRESH_SECONDS > Date.now() / 1000) {
    return current.access;
  }
  return refresh(current.refresh);
}

let refreshing = null;

async function refresh(used) {
  if (!refreshing) {
    refreshing = underLock(() => refreshOnce(used)).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function underLock(fn) {
  if (navigator.locks) return navigator.locks.request("upcast-refresh", fn);
  return fn();
}

async function refreshOnce(used) {
  const current = session();
  if (!current) return null;
  if (current.refresh !== used) return current.access;
  try {
    const pair = await send(
      "POST",
      "/auth/refresh",
      { body: { refresh_token: current.refresh } },
      null,
    );
    return keep(pair).access;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) forget();
    throw error;
  }
}

/**
 * One API call: request("GET", "/monitors", {query: {limit: 10}}).
 * Options: query (object), body (JSON-encoded), text (sent as is, with
 * contentType), raw (answer the Response instead of its JSON).
 * An expired access token is refreshed once and the call made again.
 */
export async function request(method, path, options = {}) {
  const token = await accessToken();
  try {
    return await send(method, path, options, token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !token) throw error;
    const current = session();
    if (!current) throw error;
    const fresh = await refresh(current.refresh);
    return send(method, path, options, fresh);
  }
}

async function send(method, path, options, token) {
  const url = new URL(PREFIX + path, location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value !== undefined && value !== null && value !== "") {
      url.searchParams.set(key, String(value));
    }
  }
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (options.text !== undefined) {
    body = options.text;
    headers["Content-Type"] = options.contentType || "text/plain";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }

  let response;
  try {
    response = await fetch(url, { method, headers, body, cache: "no-cache" });
  } catch (error) {
    throw new Offline(error);
  }
  if (response.status === 304 || options.raw) {
    if (!response.ok && response.status !== 304) throw await failure(response);
    return response;
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  let fields = [];
  try {
    const answer = await response.json();
    if (answer && answer.error) {
      message = answer.error.message || message;
      fields = answer.error.fields || [];
    }
  } catch {
    // Not JSON: a proxy's page, say. The status says enough.
  }
  const retry = response.headers.get("Retry-After");
  return new ApiError(response.status, message, fields, retry ? Number(retry) : null);
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body) => request("POST", path, { body });
export const put = (path, body) => request("PUT", path, { body });
export const patch = (path, body) => request("PATCH", path, { body });
export const del = (path) => request("DELETE", path);

/** Every item of a paged list: follows next_cursor until the end or max. */
export async function all(path, key, query = {}, max = 10000) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(path, { ...query, limit: 1000, cursor });
    items.push(...page[key]);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** A path segment with everything but safe characters escaped. */
export const seg = (value) => encodeURIComponent(value);
