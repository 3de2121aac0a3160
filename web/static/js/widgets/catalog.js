// The widgets the overview can show above its list of monitors.
//
// Each widget is {id, title, create(body, context)}; create fills the body
// and answers {update(), tick(), destroy()} (each optional): update when the
// monitors changed (at most once a second), tick every few seconds to bring
// times up to date, destroy when the page goes. `context` is
// {monitors, live, filterStates(states)}.

import { ApiError, Offline, get } from "../api.js";
import { STATES, fill, formatAgo, formatMs, h, stateBadge } from "../dom.js";

const LIST_LIMIT = 5;
const RECENT_EVENTS = 6;
const EVENTS_SEED_SECONDS = 30 * 60;
const INCIDENT_REFRESH_MS = 1000;
const STATE_EVENTS = new Set(["state_changed", "recovered"]);

function monitorLink(monitors, id) {
  const name = monitors.rows.get(id)?.name || id || "unknown monitor";
  return h("a", { href: `#/monitors/${encodeURIComponent(id)}` }, name);
}

function quiet(text) {
  return h("p", { class: "muted ov-widget-quiet" }, text);
}

function failure(error) {
  if (error instanceof Offline) return "The gateway cannot be reached.";
  if (error instanceof ApiError && error.status === 403) return "Not allowed for your role.";
  return error.message || String(error);
}

// -- state counts ------------------------------------------------------------

function stateCounts(body, { monitors, filterStates }) {
  const meter = h("div", { class: "ov-meter", role: "img" });
  const legend = h("ul", { class: "ov-legend" });
  body.append(meter, legend);

  function update() {
    if (!monitors.loaded) {
      fill(legend, h("li", { class: "muted" }, "Loading…"));
      return;
    }
    const counts = monitors.counts();
    const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
    const present = [
      ...STATES.filter((state) => counts[state]),
      ...Object.keys(counts).filter((state) => !STATES.includes(state)),
    ];
    meter.setAttribute(
      "aria-label",
      total ? present.map((state) => `${counts[state]} ${state}`).join(", ") : "no monitors",
    );
    fill(
      meter,
      present.map((state) =>
        h("span", {
          class: `ov-meter-part ov-fill-${STATES.includes(state) ? state : "unknown"}`,
          style: { flexGrow: String(counts[state]) },
        }),
      ),
    );
    fill(
      legend,
      present.map((state) =>
        h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              class: "link-button ov-legend-item",
              title: `Show only ${state} monitors`,
              onclick: () => filterStates([state]),
            },
            h("span", {
              class: `ov-dot ov-fill-${STATES.includes(state) ? state : "unknown"}`,
            }),
            h("span", null, state),
            h("strong", null, String(counts[state])),
          ),
        ),
      ),
    );
    if (!total) legend.append(h("li", { class: "muted" }, "No monitors yet."));
  }

  update();
  return { update };
}

// -- down now --------------------------------------------------------------------

function downNow(body, { monitors, filterStates }) {
  const list = h("ul", { class: "ov-widget-list" });
  body.append(list);

  function update() {
    if (!monitors.loaded) {
      fill(list, h("li", { class: "muted" }, "Loading…"));
      return;
    }
    const down = [];
    const degraded = [];
    for (const row of monitors.sorted) {
      if (row.state === "down") down.push(row);
      else if (row.state === "degraded") degraded.push(row);
    }
    const failing = down.concat(degraded);
    if (!failing.length) {
      fill(list, h("li", { class: "ov-all-well" }, "Nothing is down."));
      return;
    }
    fill(
      list,
      failing
        .slice(0, LIST_LIMIT)
        .map((row) =>
          h(
            "li",
            null,
            stateBadge(row.state),
            monitorLink(monitors, row.id),
            row.reason ? h("span", { class: "muted small" }, row.reason) : null,
          ),
        ),
      failing.length > LIST_LIMIT
        ? h(
            "li",
            null,
            h(
              "button",
              {
                type: "button",
                class: "link-button",
                onclick: () => filterStates(["down", "degraded"]),
              },
              `Show all ${failing.length}`,
            ),
          )
        : null,
    );
  }

  update();
  return { update };
}

// -- slowest -------------------------------------------------------------------

function slowest(body, { monitors }) {
  const list = h("ol", { class: "ov-widget-list" });
  body.append(list);

  function update() {
    if (!monitors.loaded) {
      fill(list, h("li", { class: "muted" }, "Loading…"));
      return;
    }
    // A running top five: one pass, no sort of ten thousand rows.
    const top = [];
    for (const row of monitors.sorted) {
      const latency = row.latency_ms;
      if (latency === null || latency === undefined || row.state === "paused") continue;
      if (top.length === 5 && latency <= top[4].latency_ms) continue;
      top.push(row);
      top.sort((a, b) => b.latency_ms - a.latency_ms);
      if (top.length > 5) top.pop();
    }
    if (!top.length) {
      fill(list, h("li", { class: "muted" }, "No latencies yet."));
      return;
    }
    fill(
      list,
      top.map((row) =>
        h(
          "li",
          null,
          monitorLink(monitors, row.id),
          h("span", { class: "ov-figure" }, formatMs(row.latency_ms)),
        ),
      ),
    );
  }

  update();
  return { update };
}

// -- open incidents -------------------------------------------------------------

function openIncidents(body, { monitors, live }) {
  const summary = h("p", { class: "ov-big", "aria-live": "polite" }, "…");
  const list = h("ul", { class: "ov-widget-list" });
  const more = h("p", { class: "small" }, h("a", { href: "#/incidents" }, "All incidents"));
  body.append(summary, list, more);
  let incidents = [];
  let timer = null;
  let gone = false;

  async function load() {
    try {
      const page = await get("/incidents", { status: "open", limit: 5 });
      if (gone) return;
      incidents = page.incidents || [];
      const count = `${incidents.length}${page.next_cursor ? "+" : ""}`;
      summary.textContent = incidents.length ? `${count} open` : "No open incidents.";
      summary.classList.toggle("ov-big-alarm", incidents.length > 0);
      show();
    } catch (error) {
      if (gone) return;
      summary.textContent = "";
      summary.classList.remove("ov-big-alarm");
      fill(list, h("li", { class: "problem" }, failure(error)));
    }
  }

  function show() {
    fill(
      list,
      incidents.map((incident) =>
        h(
          "li",
          null,
          h(
            "a",
            { href: `#/incidents/${encodeURIComponent(incident.id)}` },
            monitors.rows.get(incident.monitor_id)?.name || incident.monitor_id,
          ),
          h("span", { class: "muted small" }, `opened ${formatAgo(incident.opened_at)}`),
        ),
      ),
    );
  }

  const unhook = live.on("incident", () => {
    clearTimeout(timer);
    timer = setTimeout(load, INCIDENT_REFRESH_MS);
  });
  load();
  return {
    tick: () => incidents.length && show(),
    destroy() {
      gone = true;
      clearTimeout(timer);
      unhook();
    },
  };
}

// -- recent events ----------------------------------------------------------------

/** The id an event made at unix time `seconds` would have: event ids sort by time. */
function eventIdAt(seconds) {
  return Math.floor(seconds * 1_000_000)
    .toString(16)
    .padStart(14, "0");
}

function recentEvents(body, { monitors, live }) {
  const list = h("ul", { class: "ov-widget-list", "aria-live": "polite" });
  body.append(list);
  let events = [];
  let gone = false;

  function take(event) {
    if (!STATE_EVENTS.has(event.type) || events.some((known) => known.id === event.id)) {
      return;
    }
    events = [event, ...events].sort((a, b) => b.at - a.at).slice(0, RECENT_EVENTS);
  }

  function show() {
    if (!events.length) {
      fill(list, h("li", { class: "muted" }, "No state changes in the last half hour."));
      return;
    }
    fill(
      list,
      events.map((event) =>
        h(
          "li",
          null,
          stateBadge(event.data?.after),
          monitorLink(monitors, event.monitor_id),
          h(
            "time",
            { class: "muted small", datetime: new Date(event.at * 1000).toISOString() },
            formatAgo(event.at),
          ),
        ),
      ),
    );
  }

  // Events are listed oldest first: ask for those of the last half hour (by
  // the server's clock, which the snapshot gives) and keep the newest.
  async function seed() {
    const now = monitors.at || Date.now() / 1000;
    let after = eventIdAt(now - EVENTS_SEED_SECONDS);
    try {
      for (let pages = 0; pages < 5 && after; pages++) {
        const page = await get("/events", { after, limit: 500 });
        if (gone) return;
        for (const event of page.events || []) take(event);
        after = page.next_cursor ? page.events.at(-1)?.id : null;
      }
      show();
    } catch (error) {
      if (!gone) fill(list, h("li", { class: "problem" }, failure(error)));
    }
  }

  const unhook = live.on("event", (event) => {
    if (!STATE_EVENTS.has(event?.type)) return;
    take(event);
    show();
  });
  fill(list, h("li", { class: "muted" }, "Loading…"));
  seed();
  return {
    tick: show,
    destroy() {
      gone = true;
      unhook();
    },
  };
}

// -- watching now -----------------------------------------------------------------

function watchingNow(body, { live }) {
  const list = h("ul", { class: "ov-widget-list" });
  body.append(list);
  let gone = false;
  let watching = null;

  function show() {
    if (watching === null) {
      fill(list, h("li", { class: "muted" }, "Waiting for the live connection…"));
      return;
    }
    if (!watching.length) {
      fill(list, h("li", { class: "muted" }, "No one else is watching."));
      return;
    }
    fill(
      list,
      watching.map((person) =>
        h(
          "li",
          null,
          h(
            "span",
            { class: "ov-avatar", "aria-hidden": "true" },
            (person.name || "?").slice(0, 1).toUpperCase(),
          ),
          h("span", null, person.name || person.user_id),
          h(
            "span",
            { class: "muted small" },
            `since ${formatAgo(person.since)}`,
            person.connections > 1 ? `, ${person.connections} tabs` : "",
          ),
        ),
      ),
    );
  }

  async function ask() {
    const answer = await live.who();
    if (gone) return;
    if (Array.isArray(answer) && (answer.length || live.status === "live")) {
      watching = answer;
      show();
    }
  }

  const unhooks = [
    live.on("presence", (data) => {
      if (Array.isArray(data?.watching)) {
        watching = data.watching;
        show();
      }
    }),
    live.on("status", (status) => status === "live" && ask()),
  ];
  show();
  ask();
  return {
    tick: show,
    destroy() {
      gone = true;
      for (const unhook of unhooks) unhook();
    },
  };
}

export const WIDGETS = [
  { id: "state-counts", title: "State counts", create: stateCounts },
  { id: "down-now", title: "Down now", create: downNow },
  { id: "open-incidents", title: "Open incidents", create: openIncidents },
  { id: "recent-events", title: "Recent events", create: recentEvents },
  { id: "slowest", title: "Slowest", create: slowest },
  { id: "watching", title: "Watching now", create: watchingNow },
];

export const DEFAULT_WIDGETS = ["state-counts", "down-now", "open-incidents", "recent-events"];
