// Incidents, newest first: filtered by status and monitor, acknowledged or
// resolved from the list, and kept current by live incident updates.

import { get } from "../api.js";
import { fill, formatAgo, formatTime, h, stateBadge, toast, useStyles } from "../dom.js";
import { live } from "../live.js";
import {
  acknowledge,
  heldText,
  incidentOf,
  resolve,
  statusBadge,
} from "../ops/incident-actions.js";
import { arrowKeys, canChange, monitorName, monitorsReady } from "../ops/kit.js";
import { failureText } from "../ops/settings-page.js";
import { monitors } from "../store.js";

const PAGE_SIZE = 50;
const MONITOR_SUGGESTIONS = 20;
const AGES_EVERY_MS = 30000;

const STATUS_FILTERS = [
  ["open,acknowledged", "Unresolved"],
  ["open", "Open"],
  ["acknowledged", "Acknowledged"],
  ["resolved", "Resolved"],
  ["", "All"],
];

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), monitorsReady()]);
  const writable = canChange(context.user);
  const wantedStatus = context.query.get("status");
  const filter = {
    status: STATUS_FILTERS.some(([value]) => value === wantedStatus)
      ? wantedStatus
      : "open,acknowledged",
    monitor: context.query.get("monitor") || "",
  };
  let cursor = null;
  let loading = 0;
  const shown = new Map();

  // -- filters --
  const statusSelect = h(
    "select",
    { id: "incident-status-filter", name: "status" },
    STATUS_FILTERS.map(([value, label]) =>
      h("option", { value, selected: value === filter.status }, label),
    ),
  );
  const monitorInput = h("input", {
    id: "incident-monitor-filter",
    name: "monitor",
    type: "search",
    list: "incident-monitor-names",
    autocomplete: "off",
    placeholder: "Any monitor",
    value: filter.monitor ? monitorName(filter.monitor) : "",
  });
  const monitorNames = h("datalist", { id: "incident-monitor-names" });
  const monitorHint = h("p", { class: "field-hint", id: "incident-monitor-hint", role: "status" });
  monitorInput.setAttribute("aria-describedby", "incident-monitor-hint");

  const liveNote = h("p", { class: "visually-hidden", "aria-live": "polite" });
  const summaryLine = h("p", { class: "muted small list-summary", role: "status" });
  const body = h("tbody");
  const table = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "incident-table" },
      h("caption", { class: "visually-hidden" }, "Incidents, newest first"),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["Monitor", "Status", "Problem", "Opened", "Updated", "Actions"].map((name) =>
            h("th", { scope: "col" }, name),
          ),
        ),
      ),
      body,
    ),
  );
  const moreButton = h("button", { type: "button", class: "load-more", hidden: true }, "Load more");

  root.append(
    h("div", { class: "page-head" }, h("h1", null, "Incidents")),
    h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter incidents" },
      h("div", { class: "field" }, h("label", { for: statusSelect.id }, "Status"), statusSelect),
      h(
        "div",
        { class: "field" },
        h("label", { for: monitorInput.id }, "Monitor"),
        monitorInput,
        monitorNames,
        monitorHint,
      ),
    ),
    summaryLine,
    table,
    moreButton,
    liveNote,
  );
  arrowKeys(body, "a.incident-link");

  // -- loading --
  async function load(more = false) {
    const attempt = ++loading;
    if (!more) cursor = null;
    moreButton.disabled = true;
    summaryLine.textContent = "Loading…";
    let page;
    try {
      page = await get("/incidents", {
        status: filter.status,
        monitor: filter.monitor,
        limit: PAGE_SIZE,
        cursor: more ? cursor : null,
      });
    } catch (error) {
      if (attempt !== loading) return;
      summaryLine.textContent = failureText(error);
      summaryLine.classList.add("problem");
      moreButton.disabled = false;
      return;
    }
    if (attempt !== loading) return;
    summaryLine.classList.remove("problem");
    if (!more) {
      shown.clear();
      body.replaceChildren();
    }
    for (const incident of page.incidents) {
      shown.set(incident.id, incident);
      body.append(row(incident));
    }
    cursor = page.next_cursor;
    moreButton.hidden = !cursor;
    moreButton.disabled = false;
    describe();
  }

  function describe() {
    const count = shown.size;
    const label = STATUS_FILTERS.find(([value]) => value === filter.status)[1].toLowerCase();
    const which = filter.status ? `${label} incident` : "incident";
    const of = filter.monitor ? ` of ${monitorName(filter.monitor)}` : "";
    const plural = count === 1 ? "" : "s";
    summaryLine.textContent = count
      ? `${count}${cursor ? "+" : ""} ${which}${plural}${of}.`
      : `No ${which}s${of}.`;
  }

  function keepFilterInAddress() {
    const query = new URLSearchParams();
    if (filter.status !== "open,acknowledged") query.set("status", filter.status);
    if (filter.monitor) query.set("monitor", filter.monitor);
    const text = query.toString();
    history.replaceState(null, "", `#/incidents${text ? `?${text}` : ""}`);
  }

  // -- rows --
  function row(incident) {
    const name = monitorName(incident.monitor_id);
    const held = heldText(incident);
    const buttons = h("div", { class: "cell" });
    if (writable && incident.status === "open") {
      buttons.append(
        h(
          "button",
          {
            type: "button",
            class: "primary ack-button",
            "aria-label": `Acknowledge ${name}`,
            onclick: (event) => act(event.currentTarget, incident, "acknowledge"),
          },
          "Acknowledge",
        ),
      );
    }
    if (writable && incident.status !== "resolved") {
      buttons.append(
        h(
          "button",
          {
            type: "button",
            class: "resolve-button",
            "aria-label": `Resolve ${name}`,
            onclick: (event) => act(event.currentTarget, incident, "resolve"),
          },
          "Resolve",
        ),
      );
    }
    const cell = (label, ...content) =>
      h("td", { dataset: { label } }, h("div", { class: "cell" }, ...content));
    return h(
      "tr",
      {
        class: `incident-row incident-row-${incident.status}`,
        dataset: { incidentId: incident.id, status: incident.status },
      },
      cell(
        "Monitor",
        h(
          "a",
          { class: "incident-link", href: `#/incidents/${encodeURIComponent(incident.id)}` },
          name,
        ),
      ),
      cell(
        "Status",
        statusBadge(incident.status),
        incident.acknowledged_by && incident.status === "acknowledged"
          ? h("span", { class: "muted small block" }, `by ${incident.acknowledged_by}`)
          : null,
        held ? h("span", { class: "tag-badge block" }, held) : null,
        incident.flapping ? h("span", { class: "tag-badge badge-warn block" }, "Flapping") : null,
      ),
      cell(
        "Problem",
        stateBadge(incident.state),
        incident.reason ? h("span", { class: "reason" }, ` ${incident.reason}`) : null,
        incident.message ? h("span", { class: "muted small block clip" }, incident.message) : null,
      ),
      cell("Opened", when(incident.opened_at)),
      cell("Updated", when(incident.resolved_at || incident.updated_at)),
      h(
        "td",
        { class: "incident-actions", dataset: { label: "Actions" } },
        buttons.childElementCount ? buttons : null,
      ),
    );
  }

  async function act(button, incident, action) {
    const cell = button.closest("td");
    for (const each of cell.querySelectorAll("button")) each.disabled = true;
    try {
      const changed =
        action === "acknowledge" ? await acknowledge(incident.id) : await resolve(incident.id);
      toast(
        `${action === "acknowledge" ? "Acknowledged" : "Resolved"}: ${monitorName(incident.monitor_id)}`,
        "ok",
      );
      update(changed, true);
    } catch (error) {
      toast(failureText(error), "error");
      for (const each of cell.querySelectorAll("button")) each.disabled = false;
    }
  }

  function matches(incident) {
    if (filter.monitor && incident.monitor_id !== filter.monitor) return false;
    return !filter.status || filter.status.split(",").includes(incident.status);
  }

  /** Show an incident as it is now: in place, or new at its place by age. */
  function update(incident, keepFocus = false) {
    const existing = body.querySelector(`tr[data-incident-id="${CSS.escape(incident.id)}"]`);
    const before = shown.get(incident.id);
    if (before && before.updated_at > incident.updated_at) return;
    if (existing) {
      const fresh = row(incident);
      const hadFocus = existing.contains(document.activeElement);
      existing.replaceWith(fresh);
      shown.set(incident.id, incident);
      if (hadFocus || keepFocus)
        (fresh.querySelector("button") || fresh.querySelector("a")).focus();
      return;
    }
    if (!matches(incident)) return;
    // An older incident than the last row shown belongs to a page not loaded.
    const rows = [...body.querySelectorAll("tr[data-incident-id]")];
    const last = rows.at(-1)?.dataset.incidentId;
    if (cursor && last && incident.id < last) return;
    const after = rows.find((each) => each.dataset.incidentId < incident.id);
    const fresh = row(incident);
    body.insertBefore(fresh, after || null);
    shown.set(incident.id, incident);
    if (!before) liveNote.textContent = `New incident: ${monitorName(incident.monitor_id)}`;
    describe();
  }

  // -- events --
  statusSelect.addEventListener("change", () => {
    filter.status = statusSelect.value;
    keepFilterInAddress();
    load();
  });
  monitorInput.addEventListener("input", () => suggestMonitors(monitorInput.value, monitorNames));
  monitorInput.addEventListener("change", () => {
    const text = monitorInput.value.trim();
    const found = text ? findMonitor(text) : null;
    monitorHint.textContent = text && !found ? `No monitor is named “${text}”.` : "";
    const wanted = found ? found.id : "";
    if (text && !found) return;
    if (wanted === filter.monitor) return;
    filter.monitor = wanted;
    keepFilterInAddress();
    load();
  });
  moreButton.addEventListener("click", () => load(true));
  root.querySelector("form.filters").addEventListener("submit", (event) => event.preventDefault());

  const unhooks = [
    live.on("incident", (message) => {
      const incident = incidentOf(message);
      if (incident) update(incident);
    }),
    live.on("reload", () => load()),
    monitors.subscribe((changed) => {
      if (changed === null) {
        for (const [id, incident] of shown) {
          const existing = body.querySelector(`tr[data-incident-id="${CSS.escape(id)}"]`);
          existing
            ?.querySelector("a.incident-link")
            ?.replaceChildren(monitorName(incident.monitor_id));
        }
      }
    }),
  ];

  await load();
  const ages = setInterval(() => retellAges(body), AGES_EVERY_MS);
  return () => {
    loading += 1;
    clearInterval(ages);
    for (const unhook of unhooks) unhook();
  };
}

function when(seconds) {
  if (!seconds) return "–";
  return h(
    "time",
    {
      datetime: new Date(seconds * 1000).toISOString(),
      title: formatTime(seconds),
      dataset: { at: seconds },
    },
    formatAgo(seconds),
  );
}

/** Bring every "5 min ago" in the node up to date. */
function retellAges(node) {
  const now = Date.now() / 1000;
  for (const time of node.querySelectorAll("time[data-at]")) {
    time.textContent = formatAgo(Number(time.dataset.at), now);
  }
}

function findMonitor(text) {
  const lower = text.toLowerCase();
  return (
    monitors.rows.get(text) ||
    monitors.sorted.find((row) => row.name.toLowerCase() === lower) ||
    null
  );
}

function suggestMonitors(text, list) {
  const lower = text.trim().toLowerCase();
  const found = [];
  if (lower) {
    for (const row of monitors.sorted) {
      if (row.search.includes(lower)) {
        found.push(row);
        if (found.length >= MONITOR_SUGGESTIONS) break;
      }
    }
  }
  fill(
    list,
    found.map((row) => h("option", { value: row.name })),
  );
}
