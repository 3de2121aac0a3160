// A public status page: /status/<slug>, readable by anyone, no sign-in.
//
// It stands alone: no dashboard modules, no live connection, no credentials.
// It reads the page's public summary and reads it again every 30 seconds
// while the tab is visible.

const REFRESH_MS = 30000;

const STATE_TEXT = {
  up: "Operational",
  degraded: "Degraded",
  down: "Outage",
  pending: "Checking",
  maintenance: "Maintenance",
  paused: "Paused",
  unknown: "No data yet",
};

const INCIDENT_TEXT = {
  open: "Ongoing",
  acknowledged: "Investigating",
  resolved: "Resolved",
};

const page = {
  main: document.getElementById("status-page"),
  title: document.getElementById("status-title"),
  description: document.getElementById("status-description"),
  banner: document.getElementById("status-banner"),
  monitorsSection: document.getElementById("status-monitors-section"),
  monitors: document.getElementById("status-monitors"),
  incidentsSection: document.getElementById("status-incidents-section"),
  incidents: document.getElementById("status-incidents"),
  updated: document.getElementById("status-updated"),
};

let timer = null;
let lastRead = 0;
let shownOnce = false;

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The slug of /status/<slug>, or "" when the address has none. */
function slug() {
  const found = /^\/status\/([^/]+)\/?$/.exec(location.pathname);
  if (!found) return "";
  try {
    return decodeURIComponent(found[1]);
  } catch {
    return "";
  }
}

function headline(summary) {
  const states = summary.monitors.map((monitor) => monitor.state);
  switch (summary.overall) {
    case "up":
      return ["up", "All systems operational"];
    case "down":
      return ["down", "Major outage"];
    case "degraded":
      return states.includes("down")
        ? ["partial", "Partial outage"]
        : ["degraded", "Degraded performance"];
    case "maintenance":
      return ["maintenance", "Scheduled maintenance in progress"];
    default:
      return ["unknown", "Status not known yet"];
  }
}

function percent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "–";
  const value = ratio <= 1 ? ratio * 100 : ratio;
  if (value === 100) return "100%";
  return `${value.toFixed(value >= 99 ? 2 : 1)}%`;
}

function milliseconds(ms) {
  if (ms === null || ms === undefined) return null;
  if (ms < 1) return "<1 ms";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function when(seconds) {
  const date = new Date(seconds * 1000);
  return el(
    "time",
    null,
    date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }),
  );
}

function lasted(from, to) {
  const minutes = Math.max(1, Math.round((to - from) / 60));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function monitorItem(monitor) {
  const state = STATE_TEXT[monitor.state] ? monitor.state : "unknown";
  const uptime = monitor.uptime || {};
  const latency = milliseconds(monitor.latency_ms);
  return el(
    "li",
    `monitor monitor-${state}`,
    el("span", "monitor-name", monitor.name),
    el("span", `monitor-state state-${state}`, el("span", "dot"), STATE_TEXT[state]),
    el(
      "span",
      "monitor-numbers",
      latency ? el("span", "number", el("span", "number-label", "Response "), latency) : null,
      el("span", "number", el("span", "number-label", "24 h "), percent(uptime["24h"])),
      el("span", "number", el("span", "number-label", "30 d "), percent(uptime["30d"])),
    ),
  );
}

function incidentItem(incident, names) {
  const status = INCIDENT_TEXT[incident.status] ? incident.status : "open";
  const end = incident.resolved_at || Date.now() / 1000;
  return el(
    "li",
    `incident incident-${status}`,
    el(
      "div",
      "incident-head",
      el("span", "incident-name", names.get(incident.monitor_id) || "A service"),
      el("span", `incident-status status-${status}`, INCIDENT_TEXT[status]),
    ),
    el(
      "p",
      "incident-times",
      "Began ",
      when(incident.opened_at),
      incident.resolved_at ? ", resolved " : ", still going on",
      incident.resolved_at ? when(incident.resolved_at) : null,
      ` (${lasted(incident.opened_at, end)})`,
    ),
  );
}

function show(summary) {
  const [kind, text] = headline(summary);
  document.title = `${summary.title} · Status`;
  page.title.textContent = summary.title;
  page.description.textContent = summary.description || "";
  page.description.hidden = !summary.description;
  page.banner.className = `banner banner-${kind}`;
  page.banner.replaceChildren(el("span", "banner-icon"), el("span", "banner-text", text));

  page.monitors.replaceChildren(...summary.monitors.map(monitorItem));
  page.monitorsSection.hidden = summary.monitors.length === 0;

  const names = new Map(summary.monitors.map((monitor) => [monitor.id, monitor.name]));
  const incidents = summary.incidents || [];
  page.incidents.replaceChildren(
    ...(incidents.length
      ? incidents.map((incident) => incidentItem(incident, names))
      : [el("li", "incident-none", "No incidents recently.")]),
  );
  page.incidentsSection.hidden = false;
  const at = summary.at ? new Date(summary.at * 1000) : new Date();
  page.updated.textContent = `Updated ${at.toLocaleTimeString()}; refreshed every 30 seconds.`;
  page.updated.classList.remove("stale");
}

function showMissing() {
  document.title = "Status page not found";
  page.title.textContent = "Status page not found";
  page.description.textContent =
    "There is no status page at this address. Check the link you were given.";
  page.description.hidden = false;
  page.banner.className = "banner banner-missing";
  page.banner.replaceChildren(el("span", "banner-text", "Nothing to show here."));
  page.monitorsSection.hidden = true;
  page.incidentsSection.hidden = true;
  page.updated.textContent = "";
}

function showTrouble(message) {
  if (!shownOnce) {
    page.banner.className = "banner banner-unknown";
    page.banner.replaceChildren(el("span", "banner-text", "The status cannot be read right now."));
  }
  page.updated.textContent = `${message} Trying again shortly.`;
  page.updated.classList.add("stale");
}

async function read() {
  clearTimeout(timer);
  const wanted = slug();
  if (!wanted) {
    showMissing();
    page.main.setAttribute("aria-busy", "false");
    return;
  }
  lastRead = Date.now();
  try {
    const response = await fetch(`/api/v1/public/status-pages/${encodeURIComponent(wanted)}`, {
      credentials: "omit",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (response.status === 404) {
      showMissing();
      return;
    }
    if (!response.ok) {
      showTrouble(`The server answered ${response.status}.`);
    } else {
      show(await response.json());
      shownOnce = true;
    }
  } catch {
    showTrouble("The server cannot be reached.");
  } finally {
    page.main.setAttribute("aria-busy", "false");
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (document.visibilityState === "visible") timer = setTimeout(read, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") {
    clearTimeout(timer);
  } else if (Date.now() - lastRead >= REFRESH_MS) {
    read();
  } else {
    clearTimeout(timer);
    timer = setTimeout(read, REFRESH_MS - (Date.now() - lastRead));
  }
});

read();
