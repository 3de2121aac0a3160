// The dashboard's service worker: the shell offline, and the last known status.
//
// There is no build step and file names carry no fingerprint, so a file
// changes in place: every file is asked of the network first, and the cache
// answers only when the network cannot. The code stays fresh, and the
// dashboard still opens offline. Of the API only two answers are kept: the
// overview, so the last known status shows offline (marked with the
// X-Upcast-Offline header, which store.js reads), and the user's
// preferences. Both are deleted when the page says the user signed out.
//
// Bump VERSION when the list of shell files changes: the new worker takes
// over at once and the old caches are deleted.

const VERSION = "2";
const SHELL_CACHE = `upcast-shell-v${VERSION}`;
const API_CACHE = `upcast-api-v${VERSION}`;
const OFFLINE_HEADER = "X-Upcast-Offline";

// A shell file slower than this is answered from the cache, if it holds a
// copy; the network's answer still refreshes the cache when it comes.
const SHELL_TIMEOUT_MS = 4000;

// Without these the dashboard cannot start: installing fails unless all load.
const SHELL = [
  "/",
  "/manifest.webmanifest",
  "/ui/css/app.css",
  "/ui/js/app.js",
  "/ui/js/api.js",
  "/ui/js/dom.js",
  "/ui/js/live.js",
  "/ui/js/prefs.js",
  "/ui/js/store.js",
  "/ui/vendor/socket.io.esm.min.js",
  "/ui/icons/upcast.svg",
];

// Kept when they load. Every other page's module and style sheet is kept
// the first time it is visited.
const EXTRAS = [
  "/ui/js/views/login.js",
  "/ui/js/views/overview.js",
  "/ui/js/widgets/monitor-list.js",
  "/ui/css/overview.css",
  "/ui/vendor/uPlot.esm.js",
  "/ui/vendor/uPlot.min.css",
  "/ui/icons/upcast-192.png",
  "/ui/icons/upcast-512.png",
  "/ui/icons/upcast-maskable-512.png",
];

// The only API answers ever kept, by path.
const KEPT_API = new Set(["/api/v1/overview", "/api/v1/auth/me/preferences"]);

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

async function precache() {
  const cache = await caches.open(SHELL_CACHE);
  const fresh = (path) => new Request(path, { cache: "reload" });
  await cache.addAll(SHELL.map(fresh));
  await Promise.allSettled(EXTRAS.map((path) => cache.add(fresh(path))));
}

self.addEventListener("activate", (event) => {
  event.waitUntil(dropOldCaches().then(() => self.clients.claim()));
});

async function dropOldCaches() {
  const current = new Set([SHELL_CACHE, API_CACHE]);
  for (const name of await caches.keys()) {
    if (name.startsWith("upcast-") && !current.has(name)) await caches.delete(name);
  }
}

self.addEventListener("message", (event) => {
  if (event.data?.type === "signed-out") event.waitUntil(caches.delete(API_CACHE));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.method !== "GET") {
    // A kept answer that is being changed (the preferences) is forgotten
    // rather than answered stale; the page keeps its own copy meanwhile.
    if (KEPT_API.has(url.pathname)) event.waitUntil(forgetApi(url));
    return;
  }

  let answer = null;
  if (KEPT_API.has(url.pathname)) {
    answer = networkFirst(request, API_CACHE, url.href, { offlineMark: true });
  } else if (request.mode === "navigate" && url.pathname === "/") {
    answer = networkFirst(request, SHELL_CACHE, "/", { timeoutMs: SHELL_TIMEOUT_MS });
  } else if (url.pathname.startsWith("/ui/") || url.pathname === "/manifest.webmanifest") {
    answer = networkFirst(request, SHELL_CACHE, url.href, { timeoutMs: SHELL_TIMEOUT_MS });
  }
  // Anything else (the rest of the API, socket.io, status pages) is left
  // to the network, never kept.
  if (!answer) return;
  event.respondWith(answer.response);
  event.waitUntil(answer.kept);
});

async function forgetApi(url) {
  const cache = await caches.open(API_CACHE);
  await cache.delete(url.href, { ignoreVary: true });
}

/**
 * Ask the network; keep a good answer under key; when the network fails (or,
 * with timeoutMs, is too slow) answer the kept copy instead.
 * Returns {response, kept}: the answer, and the work of keeping it.
 */
function networkFirst(request, cacheName, key, { timeoutMs = 0, offlineMark = false } = {}) {
  const network = fetch(request);
  const kept = network
    .then((response) => {
      if (response.status !== 200 || response.type !== "basic") return null;
      // Cloned at once, before the page starts reading the body.
      const copy = response.clone();
      return caches.open(cacheName).then((cache) => cache.put(key, copy));
    })
    .catch(() => null);

  const response = (async () => {
    try {
      return await (timeoutMs ? within(network, timeoutMs) : network);
    } catch {
      const cache = await caches.open(cacheName);
      const copy = await cache.match(key, { ignoreVary: true });
      if (!copy) return network;
      return offlineMark ? markedOffline(copy) : copy;
    }
  })();
  return { response, kept };
}

function within(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("too slow")), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

function markedOffline(response) {
  const headers = new Headers(response.headers);
  headers.set(OFFLINE_HEADER, "1");
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
