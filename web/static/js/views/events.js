// The event feed: state changes, recoveries, monitor changes, incidents and
// maintenance, newest on top, as they happen.
//
// The API lists events oldest first after a given id, and event ids begin
// with their time in microseconds, so an id made from a moment is a bound:
// the feed asks for what happened since a minute ago, then ten minutes, an
// hour and so on, until one span holds enough. A span so busy that one page
// cannot hold it is read page by page instead.

import { get } from "../api.js";
import { fill, formatTime, h, perFrame, stateBadge, useStyles } from "../dom.js";
import { live } from "../live.js";
import { statusBadge } from "../ops/incident-actions.js";
import { monitorsReady } from "../ops/kit.js";
import { failureText } from "../ops/settings-page.js";
import { monitors } from "../store.js";

const SHOWN = 300;
const KEPT = 1000;
const PAGE = 1000;
const BUSY_PAGES = 10;
const SPANS = [60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400];

const GROUPS = {
  state: new Set(["state_changed", "recovered"]),
  recovered: new Set(["recovered"]),
  incident: new Set([
    "incident_opened",
    "incident_updated",
    "incident_acknowledged",
    "incident_resolved",
    "incident_escalated",
    "incident_note",
  ]),
  monitor: new Set([
    "monitor_created",
    "monitor_updated",
    "monitor_deleted",
    "monitor_paused",
    "monitor_resumed",
    "monitors_applied",
  ]),
  maintenance: new Set(["maintenance_started", "maintenance_ended"]),
};

const TYPE_FILTERS = [
  ["", "Everything"],
  ["state", "State changes"],
  ["recovered", "Recoveries"],
  ["incident", "Incidents"],
  ["monitor", "Monitor changes"],
  ["maintenance", "Maintenance"],
];

function spanText(seconds) {
  if (seconds < 3600) return `${seconds / 60} minute${seconds === 60 ? "" : "s"}`;
  if (seconds < 86400) return `${seconds / 3600} hour${seconds === 3600 ? "" : "s"}`;
  return `${seconds / 86400} day${seconds === 86400 ? "" : "s"}`;
}

/** The smallest event id of a moment: every event after it sorts above it. */
function idAt(seconds) {
  return Math.max(0, Math.floor(seconds * 1e6))
    .toString(16)
    .padStart(14, "0");
}

/** Names of monitors as events told them, for monitors since deleted. */
const carriedNames = new Map();

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), monitorsReady()]);
  carriedNames.clear();
  let events = [];
  const known = new Set();
  let since = null;
  let sinceSpan = null;
  let paused = false;
  let waiting = 0;
  let gone = false;
  const filter = { type: context.query.get("type") || "", monitor: "" };

  const typeSelect = h(
    "select",
    { id: "event-type-filter", name: "type" },
    TYPE_FILTERS.map(([value, label]) =>
      h("option", { value, selected: value === filter.type }, label),
    ),
  );
  const monitorInput = h("input", {
    id: "event-monitor-filter",
    name: "monitor",
    type: "search",
    autocomplete: "off",
    placeholder: "Any monitor",
  });
  const pauseButton = h(
    "button",
    { type: "button", class: "pause-button", "aria-pressed": "false" },
    "Pause",
  );
  const newButton = h("button", { type: "button", class: "primary show-new", hidden: true });
  const summaryLine = h("p", { class: "muted small list-summary", role: "status" }, "Loading…");
  const list = h("ol", {
    class: "event-feed",
    tabindex: 0,
    "aria-label": "Events, newest first. Arrow keys move between events; Enter opens one.",
  });

  root.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Events"),
      h("div", { class: "actions" }, newButton, pauseButton),
    ),
    h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter events" },
      h("div", { class: "field" }, h("label", { for: typeSelect.id }, "Type"), typeSelect),
      h(
        "div",
        { class: "field" },
        h("label", { for: monitorInput.id }, "Monitor name"),
        monitorInput,
      ),
    ),
    summaryLine,
    list,
  );
  list.addEventListener("keydown", (event) => moveInFeed(list, event));

  function passes(event) {
    if (filter.type && !GROUPS[filter.type]?.has(event.type)) return false;
    if (filter.monitor) {
      const name = `${nameOf(event)} ${event.monitor_id || ""}`.toLowerCase();
      if (!name.includes(filter.monitor)) return false;
    }
    return true;
  }

  function renderAll() {
    const shown = [];
    for (const event of events) {
      if (passes(event)) shown.push(row(event));
      if (shown.length >= SHOWN) break;
    }
    fill(list, shown);
    waiting = 0;
    newButton.hidden = true;
    describe(shown.length);
  }

  function describe(count = list.children.length) {
    const from = sinceSpan
      ? ` in the last ${spanText(sinceSpan)}`
      : since
        ? ` since ${formatTime(since)}`
        : "";
    const many = count === SHOWN ? `The latest ${SHOWN}` : String(count);
    const plural = count === 1 ? "" : "s";
    summaryLine.textContent = count
      ? `${many} event${plural}${from}${paused ? ", paused" : ""}.`
      : `No events${from}${filter.type || filter.monitor ? " match" : ""}.`;
  }

  function remember(event) {
    if (!event || typeof event.id !== "string" || known.has(event.id)) return false;
    known.add(event.id);
    if (event.monitor_id && typeof event.data?.name === "string") {
      carriedNames.set(event.monitor_id, event.data.name);
    }
    if (!events.length || event.id > events[0].id) events.unshift(event);
    else {
      const at = events.findIndex((each) => each.id < event.id);
      if (at < 0) events.push(event);
      else events.splice(at, 0, event);
    }
    if (events.length > KEPT) {
      for (const old of events.splice(KEPT)) known.delete(old.id);
    }
    return true;
  }

  const arrived = [];
  const flush = perFrame(() => {
    const fresh = arrived.splice(0).filter(passes);
    if (!fresh.length) return;
    if (paused) {
      waiting += fresh.length;
      newButton.hidden = false;
      newButton.textContent = `Show ${waiting} new`;
      return;
    }
    fresh.sort((a, b) => (a.id < b.id ? 1 : -1));
    list.prepend(...fresh.map(row));
    while (list.children.length > SHOWN) list.lastElementChild.remove();
    describe();
  });

  function take(event) {
    if (remember(event)) {
      arrived.push(event);
      flush();
    }
  }

  async function seed() {
    const now = Date.now() / 1000;
    for (const span of SPANS) {
      const bound = idAt(now - span);
      const page = await get("/events", { after: bound, limit: PAGE });
      if (gone) return;
      if (page.next_cursor) {
        // Too many to read at once: a wider span would only be older still.
        if (since === null) await readBusy(page, now - span);
        return;
      }
      since = now - span;
      sinceSpan = span;
      for (const event of page.events) remember(event);
      if (events.length >= SHOWN) return;
    }
  }

  async function readBusy(first, from) {
    since = from;
    let page = first;
    for (let read = 1; ; read++) {
      for (const event of page.events) remember(event);
      if (!page.next_cursor || read >= BUSY_PAGES || gone) return;
      page = await get("/events", { cursor: page.next_cursor, limit: PAGE });
    }
  }

  typeSelect.addEventListener("change", () => {
    filter.type = typeSelect.value;
    renderAll();
  });
  monitorInput.addEventListener(
    "input",
    perFrame(() => {
      filter.monitor = monitorInput.value.trim().toLowerCase();
      renderAll();
    }),
  );
  root.querySelector("form.filters").addEventListener("submit", (event) => event.preventDefault());
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused) renderAll();
    else describe();
  });
  newButton.addEventListener("click", () => {
    renderAll();
    list.querySelector("li.event")?.focus();
  });

  const unhooks = [
    live.on("event", take),
    live.on("incident", take),
    monitors.subscribe((changed) => {
      if (changed === null && !paused) renderAll();
    }),
  ];

  try {
    await seed();
    renderAll();
  } catch (error) {
    summaryLine.textContent = failureText(error);
    summaryLine.classList.add("problem");
  }

  return () => {
    gone = true;
    for (const unhook of unhooks) unhook();
  };
}

/**
 * The feed is one stop for Tab: arrow keys, Home and End move between its
 * events, and Enter follows an event's first link.
 */
function moveInFeed(list, event) {
  const items = [...list.children];
  if (!items.length) return;
  const at = items.indexOf(document.activeElement);
  let next = null;
  if (event.key === "ArrowDown") next = at < 0 ? 0 : Math.min(items.length - 1, at + 1);
  else if (event.key === "ArrowUp") next = at < 0 ? 0 : Math.max(0, at - 1);
  else if (event.key === "Home") next = 0;
  else if (event.key === "End") next = items.length - 1;
  else if (event.key === "Enter" && at >= 0) {
    items[at].querySelector("a")?.click();
    return;
  }
  if (next === null) return;
  event.preventDefault();
  items[next].focus();
}

/** The name an event is about: its monitor's, else one it carries. */
function nameOf(event) {
  if (event.monitor_id && monitors.rows.has(event.monitor_id))
    return monitors.rows.get(event.monitor_id).name;
  return event.data?.name || carriedNames.get(event.monitor_id) || event.monitor_id || "";
}

function monitorLink(event) {
  if (!event.monitor_id) return null;
  const name = nameOf(event) || event.monitor_id;
  if (event.type === "monitor_deleted") return h("strong", null, name);
  return h("a", { href: `#/monitors/${encodeURIComponent(event.monitor_id)}`, tabindex: -1 }, name);
}

function clock(seconds) {
  const date = new Date(seconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return h(
    "time",
    { datetime: date.toISOString(), title: date.toLocaleString() },
    today
      ? date.toLocaleTimeString()
      : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }),
  );
}

function row(event) {
  return h(
    "li",
    {
      class: `event event-${kindOf(event)}`,
      tabindex: -1,
      dataset: { eventId: event.id, type: event.type },
    },
    clock(event.at),
    h("span", { class: "event-text" }, describeEvent(event)),
  );
}

function kindOf(event) {
  if (event.type === "state_changed")
    return event.data?.after === "up" ? "up" : event.data?.after || "other";
  if (event.type === "recovered") return "up";
  for (const [group, types] of Object.entries(GROUPS)) {
    if (group !== "state" && group !== "recovered" && types.has(event.type)) return group;
  }
  return "other";
}

function incidentLink(incident, text) {
  if (!incident?.id) return text;
  return h("a", { href: `#/incidents/${encodeURIComponent(incident.id)}`, tabindex: -1 }, text);
}

function describeEvent(event) {
  const data = event.data || {};
  const who = monitorLink(event);
  switch (event.type) {
    case "state_changed":
      return [
        who,
        " ",
        stateBadge(data.before),
        " → ",
        stateBadge(data.after),
        data.reason ? h("span", { class: "muted" }, ` ${data.reason}`) : null,
        data.message ? h("span", { class: "muted small block clip" }, data.message) : null,
      ];
    case "recovered":
      return [who, " recovered ", stateBadge("up")];
    case "monitor_created":
      return [who, " was created"];
    case "monitor_updated":
      return [who, " was changed"];
    case "monitor_deleted":
      return [who, " was deleted"];
    case "monitor_paused":
      return [who, " was paused"];
    case "monitor_resumed":
      return [who, " was resumed"];
    case "monitors_applied":
      return (
        `Monitors applied: ${data.created_count ?? 0} created, ` +
        `${data.updated_count ?? 0} updated` +
        (data.unchanged_count ? `, ${data.unchanged_count} unchanged.` : ".")
      );
    case "incident_opened":
      return [
        incidentLink(data, "Incident opened"),
        " for ",
        who,
        " ",
        stateBadge(data.state),
        data.reason ? h("span", { class: "muted" }, ` ${data.reason}`) : null,
      ];
    case "incident_acknowledged":
      return [
        incidentLink(data, "Incident acknowledged"),
        " for ",
        who,
        data.acknowledged_by ? ` by ${data.acknowledged_by}` : "",
      ];
    case "incident_resolved":
      return [
        incidentLink(data, "Incident resolved"),
        " for ",
        who,
        data.resolved_by && !["recovery", "paused", "deleted"].includes(data.resolved_by)
          ? ` by ${data.resolved_by}`
          : "",
      ];
    case "incident_escalated":
      return [
        incidentLink(data, "Incident escalated"),
        " for ",
        who,
        data.escalation ? ` (${data.escalation}, level ${data.level})` : "",
      ];
    case "incident_note":
      return [incidentLink(data, "Note added"), " to the incident of ", who];
    case "incident_updated":
      return [
        incidentLink(data, "Incident updated"),
        " for ",
        who,
        " ",
        data.status ? statusBadge(data.status) : null,
      ];
    case "maintenance_started":
      return [
        "Maintenance ",
        h("a", { href: "#/maintenance", tabindex: -1 }, data.window || "window"),
        " started",
      ];
    case "maintenance_ended":
      return [
        "Maintenance ",
        h("a", { href: "#/maintenance", tabindex: -1 }, data.window || "window"),
        " ended",
      ];
    default:
      return [event.type.replace(/_/g, " "), who ? [" · ", who] : null];
  }
}
