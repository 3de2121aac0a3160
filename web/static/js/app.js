// The dashboard's shell: routes, the signed-in gate, the top bar, notifications.
//
// Each page is a module under views/ exporting
//   mount(root, params, context) -> cleanup function (optional),
// loaded when first visited. Routes are hash routes (#/monitors/abc), so the
// gateway serves one page and the service worker caches one shell.

import { onSessionChange, session } from "./api.js";
import { fill, formatAgo, h } from "./dom.js";
import { live } from "./live.js";
import { loadPreferences } from "./prefs.js";
import { monitors } from "./store.js";

const ROUTES = [
  ["/login", "login", "login"],
  ["/", "overview", "overview"],
  ["/monitors/new", "monitor-form", "overview"],
  ["/monitors/:id/edit", "monitor-form", "overview"],
  ["/monitors/:id", "monitor", "overview"],
  ["/import", "import", "overview"],
  ["/incidents", "incidents", "incidents"],
  ["/incidents/:id", "incident", "incidents"],
  ["/events", "events", "events"],
  ["/maintenance", "maintenance", "maintenance"],
  ["/channels", "channels", "channels"],
  ["/routes", "routes", "routes"],
  ["/escalations", "escalations", "escalations"],
  ["/slos", "slos", "slos"],
  ["/status-pages", "status-pages", "status-pages"],
  ["/account", "account", "account"],
];

const PUBLIC_VIEWS = new Set(["login"]);

const view = document.getElementById("view");
let cleanup = null;
let mounting = 0;
let started = false;

function match(path) {
  for (const [pattern, name, section] of ROUTES) {
    const names = [];
    const source = pattern.replace(/:(\w+)/g, (_, key) => {
      names.push(key);
      return "([^/]+)";
    });
    const found = new RegExp(`^${source}$`).exec(path);
    if (found) {
      const params = Object.fromEntries(
        names.map((key, at) => [key, decodeURIComponent(found[at + 1])]),
      );
      return { name, section, params };
    }
  }
  return null;
}

/** Go to a route: navigate("/monitors/abc"). */
export function navigate(path, { replace = false } = {}) {
  const hash = `#${path}`;
  if (replace) history.replaceState(null, "", hash);
  else if (location.hash !== hash) {
    location.hash = hash;
    return;
  }
  route();
}

function currentPath() {
  const hash = location.hash.replace(/^#/, "");
  const [path, query = ""] = hash.split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

async function route() {
  const { path, query } = currentPath();
  const found = match(path);
  if (!found) {
    navigate("/", { replace: true });
    return;
  }
  if (!PUBLIC_VIEWS.has(found.name) && !session()) {
    navigate(`/login?next=${encodeURIComponent(path)}`, { replace: true });
    return;
  }
  if (!PUBLIC_VIEWS.has(found.name)) startSignedIn();

  const attempt = ++mounting;
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error("a page failed to clean up", error);
    }
    cleanup = null;
  }
  document.getElementById("topbar").hidden = PUBLIC_VIEWS.has(found.name);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === found.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  closeMenu();

  try {
    const module = await import(`./views/${found.name}.js`);
    if (attempt !== mounting) return;
    const root = h("div", { class: `page page-${found.name}` });
    fill(view, root);
    const context = { navigate, query, user: session()?.user ?? null };
    const done = await module.mount(root, found.params, context);
    if (attempt !== mounting) {
      if (typeof done === "function") done();
      return;
    }
    cleanup = typeof done === "function" ? done : null;
    if (document.activeElement === document.body) view.focus({ preventScroll: true });
  } catch (error) {
    console.error("the page failed to load", error);
    if (attempt === mounting) {
      fill(
        view,
        h(
          "div",
          { class: "page" },
          h("h1", null, "This page could not be shown"),
          h("p", { class: "problem" }, error.message || String(error)),
        ),
      );
    }
  }
}

function startSignedIn() {
  if (started) return;
  started = true;
  loadPreferences();
  monitors.start().catch((error) => console.warn("no monitors yet", error));
  live.on("incident", (data) => notify(incidentNotice(data)));
  live.on("event", (event) => {
    if (event.type === "state_changed" || event.type === "recovered") {
      const after = event.data?.after;
      if (after === "down" || event.type === "recovered") notify(stateNotice(event));
    }
  });
}

function stopSignedIn() {
  if (!started) return;
  started = false;
  live.stop();
  monitors.stop();
}

// -- the top bar ----------------------------------------------------------

function closeMenu() {
  document.getElementById("nav").classList.remove("open");
  document.getElementById("menu-button").setAttribute("aria-expanded", "false");
}

document.getElementById("menu-button").addEventListener("click", (event) => {
  const nav = document.getElementById("nav");
  const open = nav.classList.toggle("open");
  event.currentTarget.setAttribute("aria-expanded", String(open));
});

const connection = document.getElementById("connection");
const CONNECTION_TEXT = { live: "Live", connecting: "Reconnecting…", offline: "Offline" };
live.on("status", (status) => {
  connection.dataset.status = status;
  connection.textContent = CONNECTION_TEXT[status] || status;
});

function showOffline() {
  document.getElementById("offline").hidden = navigator.onLine && !monitors.stale;
}
window.addEventListener("online", () => {
  showOffline();
  if (started) monitors.reload(0);
});
window.addEventListener("offline", showOffline);
monitors.subscribe(showOffline);
showOffline();

document.querySelector(".skip-link").addEventListener("click", (event) => {
  // The link's own target would change the hash, which is the route.
  event.preventDefault();
  view.focus();
});

// -- notification centre --------------------------------------------------

const NOTICES_KEY = "upcast.notices";
const MAX_NOTICES = 50;
const panel = document.getElementById("notifications");
const bell = document.getElementById("notifications-button");
const unreadBadge = document.getElementById("unread");

function notices() {
  try {
    return JSON.parse(localStorage.getItem(NOTICES_KEY) || "[]");
  } catch {
    return [];
  }
}

function keepNotices(list) {
  localStorage.setItem(NOTICES_KEY, JSON.stringify(list.slice(0, MAX_NOTICES)));
  renderNotices();
}

let arriving = [];

/** Keep a notice; a burst of them is written once a second, not one by one. */
function notify(notice) {
  if (!notice) return;
  if (!arriving.length) {
    setTimeout(() => {
      const kept = notices();
      // An update replayed after a reconnection is not told twice.
      const known = new Set(kept.map((item) => item.id));
      const newest = arriving
        .reverse()
        .filter((item) => !known.has(item.id))
        .map((item) => ({ ...item, read: false }));
      arriving = [];
      keepNotices([...newest, ...kept]);
    }, 1000);
  }
  arriving.push(notice);
}

function monitorName(id) {
  return monitors.rows.get(id)?.name || id;
}

function stateNotice(event) {
  const name = monitorName(event.monitor_id);
  const down = event.data?.after === "down";
  return {
    id: event.id,
    at: event.at,
    kind: down ? "down" : "up",
    text: down
      ? `${name} is down${event.data?.reason ? ` (${event.data.reason})` : ""}`
      : `${name} is up again`,
    link: `#/monitors/${encodeURIComponent(event.monitor_id)}`,
  };
}

const TOLD_INCIDENT_EVENTS = {
  incident_opened: "opened",
  incident_escalated: "escalated",
  incident_acknowledged: "acknowledged",
  incident_resolved: "resolved",
};

/** A notice of an incident event ({type, monitor_id, data: the incident}). */
function incidentNotice(event) {
  const what = TOLD_INCIDENT_EVENTS[event?.type];
  const incident = event?.data;
  if (!what || !incident?.id) return null;
  return {
    id: event.id,
    at: event.at,
    kind: event.type === "incident_resolved" ? "up" : "incident",
    text: `Incident ${what}: ${monitorName(incident.monitor_id || event.monitor_id)}`,
    link: `#/incidents/${encodeURIComponent(incident.id)}`,
  };
}

function renderNotices() {
  const list = notices();
  const unread = list.filter((notice) => !notice.read).length;
  unreadBadge.hidden = unread === 0;
  unreadBadge.textContent = unread > 99 ? "99+" : String(unread);
  bell.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  if (panel.hidden) return;
  fill(
    panel,
    h(
      "div",
      { class: "notifications-head" },
      h("h2", null, "Notifications"),
      h(
        "button",
        {
          type: "button",
          class: "link-button",
          onclick: () => keepNotices(list.map((notice) => ({ ...notice, read: true }))),
        },
        "Mark all read",
      ),
    ),
    list.length
      ? h(
          "ul",
          { class: "notice-list" },
          list.map((notice) =>
            h(
              "li",
              { class: `notice notice-${notice.kind}${notice.read ? "" : " unread"}` },
              h("a", { href: notice.link, onclick: () => togglePanel(false) }, notice.text),
              h("time", null, formatAgo(notice.at)),
            ),
          ),
        )
      : h("p", { class: "muted" }, "Nothing yet. Incidents and monitors going down show here."),
  );
}

function togglePanel(open = panel.hidden) {
  panel.hidden = !open;
  bell.setAttribute("aria-expanded", String(open));
  if (open) renderNotices();
}

bell.addEventListener("click", () => togglePanel());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) {
    togglePanel(false);
    bell.focus();
  }
});
window.addEventListener("storage", (event) => {
  if (event.key === NOTICES_KEY) renderNotices();
});

// -- start ----------------------------------------------------------------

onSessionChange((current) => {
  if (!current) {
    // The service worker keeps the last overview for offline use; it must
    // not outlive the session.
    navigator.serviceWorker?.controller?.postMessage({ type: "signed-out" });
    stopSignedIn();
    if (currentPath().path !== "/login") navigate("/login", { replace: true });
  }
});

window.addEventListener("hashchange", route);
renderNotices();
route();

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch((error) => {
    console.warn("the dashboard will not work offline", error);
  });
}
