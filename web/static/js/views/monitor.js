// One monitor: its state and actions, latency chart, uptime, SLOs, incidents
// and recent results, kept current by live updates.

import { ApiError, all, del, get, post, seg } from "../api.js";
import {
  fill,
  formatAgo,
  formatMs,
  formatRatio,
  formatTime,
  h,
  stateBadge,
  toast,
  useStyles,
} from "../dom.js";
import { ANOMALY_THRESHOLD, LatencyChart, PHASE_LABELS, anomalyScore } from "../latency-chart.js";
import { live } from "../live.js";
import { formatDuration, targetSummary } from "../monitor-kinds.js";

const HOUR = 3600;
const DAY = 86400;

const RANGES = [
  ["1h", "1 h", HOUR],
  ["24h", "24 h", DAY],
  ["7d", "7 d", 7 * DAY],
  ["30d", "30 d", 30 * DAY],
];

const UPTIME_SPANS = [
  ["24h", "Last 24 hours", DAY],
  ["30d", "Last 30 days", 30 * DAY],
  ["1y", "Last year", 365 * DAY],
];

/** Most results drawn at once; a longer span shows its latest ones. */
const CHART_CAP = 5000;
const CHART_PAGE = 1000;
const TABLE_PAGE = 50;
/** Rows the results table keeps while live results arrive; older ones go. */
const TABLE_CAP = 1000;
const INCIDENTS_SHOWN = 10;
const SLOS_SHOWN = 10;

export async function mount(root, params, context) {
  await useStyles("monitor");
  const page = new MonitorPage(root, params.id, context);
  await page.start();
  return () => page.stop();
}

/** An API failure as a sentence for a toast. */
function failureText(action, error) {
  if (error instanceof ApiError) return `${action} failed: ${error.message}`;
  return `${action} failed: the server cannot be reached.`;
}

function describeSpan(seconds) {
  if (seconds % DAY === 0 && seconds > DAY) return `${seconds / DAY} days`;
  if (seconds % HOUR === 0) return `${seconds / HOUR} hour${seconds === HOUR ? "" : "s"}`;
  return formatDuration(Math.round(seconds));
}

/** A check's time, short: the time of day for today's, else the date too. */
function shortTime(seconds) {
  const at = new Date(seconds * 1000);
  if (at.toDateString() === new Date().toDateString()) return at.toLocaleTimeString();
  return at.toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

class MonitorPage {
  constructor(root, id, { navigate, query }) {
    this.root = root;
    this.id = id;
    this.navigate = navigate;
    this.monitor = null;
    this.state = "unknown";
    const wanted = query.get("range");
    this.range = RANGES.find(([key]) => key === wanted) || RANGES[1];
    this.zoom = null;
    this.chartLoad = 0;
    this.rows = [];
    this.cursor = null;
    this.olderThan = null;
    this.unhooks = [];
    this.timers = [];
    this.stopped = false;
  }

  path(suffix = "") {
    return `/monitors/${seg(this.id)}${suffix}`;
  }

  async start() {
    try {
      this.monitor = await get(this.path());
    } catch (error) {
      this.showMissing(error);
      return;
    }
    this.build();
    this.renderHead();
    this.startLive();
    // Each part loads on its own and says so when it fails; the page is
    // usable (and can be left) before they all arrive.
    this.loadChart();
    this.loadResults();
    this.loadDegraded();
    this.loadUptime();
    this.loadSlos();
    this.loadIncidents();
  }

  stop() {
    this.stopped = true;
    live.watch([], "monitor");
    for (const unhook of this.unhooks) unhook();
    for (const timer of this.timers) clearInterval(timer);
    this.chart?.destroy();
    this.dialog?.close();
  }

  showMissing(error) {
    const text =
      error instanceof ApiError && error.status === 404
        ? `There is no monitor "${this.id}". It may have been deleted.`
        : failureText("Loading the monitor", error);
    fill(
      this.root,
      h("h1", null, "Monitor not found"),
      h("p", { class: "problem" }, text),
      h("p", null, h("a", { href: "#/" }, "Back to the overview")),
    );
  }

  // -- the page's parts ----------------------------------------------------

  build() {
    const id = this.id;
    this.title = h("h1", { id: "monitor-name" });
    this.badge = h("span");
    this.pauseButton = h("button", {
      type: "button",
      id: "pause-button",
      onclick: () => this.togglePause(),
    });
    this.summary = h("p", { class: "monitor-summary muted" });
    this.tags = h("ul", { class: "tag-list", "aria-label": "Tags" });
    this.lastCheck = h("p", { class: "monitor-last small", id: "monitor-last" });
    this.degraded = h("p", {
      class: "degraded-notice",
      id: "degraded-notice",
      role: "status",
      hidden: true,
    });
    this.removed = h("p", { class: "removed-notice", role: "alert", hidden: true });

    const head = h(
      "header",
      { class: "page-head monitor-head" },
      h(
        "div",
        { class: "monitor-title" },
        this.title,
        h("span", { id: "monitor-state-holder", "aria-live": "polite" }, this.badge),
      ),
      h(
        "div",
        { class: "actions" },
        h("a", { class: "button", id: "edit-link", href: `#/monitors/${seg(id)}/edit` }, "Edit"),
        this.pauseButton,
        h(
          "button",
          {
            type: "button",
            class: "danger",
            id: "delete-button",
            onclick: () => this.confirmDelete(),
          },
          "Delete",
        ),
      ),
    );

    this.root.append(
      head,
      this.summary,
      this.tags,
      this.lastCheck,
      this.degraded,
      this.removed,
      this.buildChart(),
      h("div", { class: "monitor-grid" }, this.buildUptime(), this.buildSlos()),
      this.buildIncidents(),
      this.buildResults(),
      this.buildDialog(),
    );
    this.timers.push(setInterval(() => this.renderLastCheck(), 15000));
  }

  renderHead() {
    const monitor = this.monitor;
    const status = monitor.status || {};
    this.title.textContent = monitor.name;
    document.title = `${monitor.name} · Upcast`;
    this.setState(status.state || (monitor.enabled === false ? "paused" : "unknown"));
    this.pauseButton.textContent = monitor.enabled === false ? "Resume" : "Pause";
    this.pauseButton.dataset.action = monitor.enabled === false ? "resume" : "pause";

    const parts = [targetSummary(monitor), `every ${formatDuration(monitor.interval)}`];
    if (monitor.timeout && monitor.kind !== "push")
      parts.push(`timeout ${formatDuration(monitor.timeout)}`);
    if (monitor.retries)
      parts.push(`${monitor.retries} ${monitor.retries === 1 ? "retry" : "retries"}`);
    if (monitor.priority && monitor.priority !== "normal")
      parts.push(`${monitor.priority} priority`);
    fill(this.summary, parts.join(" · "));
    if (monitor.description)
      this.summary.append(h("span", { class: "monitor-description" }, monitor.description));

    fill(
      this.tags,
      (monitor.tags || []).map((tag) => h("li", { class: "tag" }, tag)),
    );
    this.tags.hidden = !(monitor.tags || []).length;
    this.lastResult = {
      started_at: status.last_check_at,
      latency_ms: status.last_latency_ms,
      ok: status.last_ok,
      reason: status.last_reason,
      message: status.last_message,
    };
    this.renderLastCheck();
  }

  setState(state) {
    this.state = state;
    const badge = stateBadge(state);
    badge.id = "monitor-state";
    badge.dataset.state = state;
    this.badge.replaceWith(badge);
    this.badge = badge;
  }

  renderLastCheck() {
    const last = this.lastResult;
    if (!last || !last.started_at) {
      fill(this.lastCheck, "Not checked yet.");
      return;
    }
    fill(
      this.lastCheck,
      "Last check ",
      h(
        "time",
        {
          datetime: new Date(last.started_at * 1000).toISOString(),
          title: formatTime(last.started_at),
        },
        formatAgo(last.started_at),
      ),
      last.ok === false
        ? h(
            "span",
            { class: "problem" },
            ` failed${last.reason ? ` (${last.reason})` : ""}: ${last.message || ""}`,
          )
        : `: ${formatMs(last.latency_ms)}`,
    );
  }

  // -- actions ---------------------------------------------------------------

  async togglePause() {
    const action = this.pauseButton.dataset.action;
    this.pauseButton.disabled = true;
    try {
      await post(this.path(`/${action}`));
      toast(
        action === "pause" ? `${this.monitor.name} is paused.` : `${this.monitor.name} is resumed.`,
        "ok",
      );
      await this.reloadHead();
    } catch (error) {
      toast(failureText(action === "pause" ? "Pausing" : "Resuming", error), "error");
    } finally {
      this.pauseButton.disabled = false;
    }
  }

  async reloadHead() {
    try {
      this.monitor = await get(this.path());
      if (!this.stopped) this.renderHead();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.markRemoved();
    }
  }

  buildDialog() {
    this.dialogName = h("strong");
    this.dialog = h(
      "dialog",
      { id: "delete-dialog", class: "confirm-dialog", "aria-labelledby": "delete-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "delete-title" }, "Delete this monitor?"),
        h(
          "p",
          null,
          this.dialogName,
          " stops being checked at once and is removed. ",
          "Its stored results stay until they expire.",
        ),
        h(
          "div",
          { class: "actions dialog-actions" },
          h("button", { value: "cancel" }, "Cancel"),
          h("button", { value: "delete", class: "danger", id: "confirm-delete" }, "Delete"),
        ),
      ),
    );
    this.dialog.addEventListener("close", () => {
      if (this.dialog.returnValue === "delete") this.remove();
    });
    return this.dialog;
  }

  confirmDelete() {
    this.dialogName.textContent = this.monitor.name;
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  async remove() {
    try {
      await del(this.path());
      toast(`${this.monitor.name} was deleted.`, "ok");
      this.navigate("/");
    } catch (error) {
      toast(failureText("Deleting", error), "error");
    }
  }

  markRemoved() {
    this.removed.hidden = false;
    this.removed.textContent = "This monitor has been deleted.";
    for (const button of this.root.querySelectorAll(".monitor-head button")) button.disabled = true;
  }

  // -- degraded ------------------------------------------------------------------

  async loadDegraded() {
    try {
      const baselines = await get(this.path("/baselines"));
      if (this.stopped) return;
      this.degraded.hidden = !baselines.degraded;
      this.degraded.textContent = baselines.degraded
        ? `Degraded: ${baselines.degraded_reason || "slower or less reliable than usual"}.`
        : "";
    } catch {
      // Baselines come from the monitor's shard; without them there is nothing to say.
      this.degraded.hidden = true;
    }
  }

  // -- latency chart -------------------------------------------------------------

  buildChart() {
    this.rangeButtons = RANGES.map(([key, label]) =>
      h(
        "button",
        {
          type: "button",
          dataset: { range: key },
          "aria-pressed": String(key === this.range[0]),
          onclick: () => this.pickRange(key),
        },
        label,
      ),
    );
    this.resetButton = h(
      "button",
      { type: "button", id: "reset-zoom", hidden: true, onclick: () => this.resetZoom() },
      "Reset zoom",
    );
    this.toggleBox = h("div", {
      class: "series-toggles",
      role: "group",
      "aria-label": "Shown on the chart",
    });
    this.chartBox = h("div", {
      class: "latency-chart",
      id: "latency-chart",
      role: "img",
      "aria-label": "Latency chart",
    });
    this.readout = h("p", { class: "chart-readout small", id: "chart-readout" }, "\u00a0");
    this.chartNote = h("p", {
      class: "chart-note muted small",
      id: "chart-note",
      "aria-live": "polite",
    });
    this.chart = new LatencyChart(this.chartBox, {
      onZoom: (since, until) => this.zoomTo(since, until),
      onPoint: (result) => this.showPoint(result),
    });
    return h(
      "section",
      { class: "card chart-card", "aria-labelledby": "latency-title" },
      h(
        "div",
        { class: "chart-toolbar" },
        h("h2", { id: "latency-title" }, "Latency"),
        h(
          "div",
          { class: "range-buttons", role: "group", "aria-label": "Time span" },
          this.rangeButtons,
        ),
        this.resetButton,
      ),
      this.toggleBox,
      this.chartBox,
      this.readout,
      this.chartNote,
    );
  }

  span() {
    if (this.zoom) return this.zoom;
    const until = Date.now() / 1000;
    return { since: until - this.range[2], until };
  }

  pickRange(key) {
    this.range = RANGES.find(([name]) => name === key);
    this.zoom = null;
    for (const button of this.rangeButtons) {
      button.setAttribute("aria-pressed", String(button.dataset.range === key));
    }
    this.loadChart();
  }

  zoomTo(since, until) {
    this.zoom = { since, until };
    this.loadChart();
  }

  resetZoom() {
    this.zoom = null;
    this.loadChart();
    this.rangeButtons.find((button) => button.dataset.range === this.range[0])?.focus();
  }

  async loadChart() {
    const attempt = ++this.chartLoad;
    const { since, until } = this.span();
    this.resetButton.hidden = !this.zoom;
    this.chartNote.textContent = "Loading checks…";
    let rows = [];
    let more = false;
    try {
      let cursor = null;
      do {
        const page = await get(this.path("/results"), {
          since: since.toFixed(3),
          until: until.toFixed(3),
          limit: CHART_PAGE,
          cursor,
        });
        if (attempt !== this.chartLoad || this.stopped) return;
        rows.push(...page.results);
        cursor = page.next_cursor;
      } while (cursor && rows.length < CHART_CAP);
      more = Boolean(cursor);
    } catch (error) {
      if (attempt !== this.chartLoad || this.stopped) return;
      this.chartNote.textContent = failureText("Loading the checks", error);
      rows = [];
    }
    this.chart.show(rows, since, until);
    this.renderToggles();
    this.chartBox.setAttribute("aria-label", this.chart.describe());
    this.chartNote.textContent = this.chartNoteText(rows, more, since, until);
  }

  chartNoteText(rows, more, since, until) {
    const where = this.zoom
      ? `${formatTime(since)} to ${formatTime(until)}`
      : this.range[2] === HOUR
        ? "the last hour"
        : `the last ${describeSpan(this.range[2])}`;
    if (!rows.length) return `No checks in ${where}.`;
    const oldest = Math.min(...rows.map((row) => row.started_at));
    const count = rows.length.toLocaleString();
    const shown = more
      ? `Showing the latest ${count} checks of ${where}, from ${formatTime(oldest)}; ` +
        "zoom in for earlier ones."
      : `${count} checks in ${where}.`;
    return `${shown} Drag across the chart to zoom in.`;
  }

  renderToggles() {
    fill(
      this.toggleBox,
      this.chart.toggles().map(({ key, label, shown }) =>
        h(
          "label",
          { class: `series-toggle series-${key.replace(/_/g, "-")}` },
          h("input", {
            type: "checkbox",
            name: `show-${key}`,
            checked: shown,
            onchange: (event) => this.chart.setShown(key, event.target.checked),
          }),
          h("span", { class: "swatch", "aria-hidden": "true" }),
          label,
        ),
      ),
    );
  }

  showPoint(result) {
    if (!result) {
      this.readout.textContent = "\u00a0";
      return;
    }
    const phases = Object.entries(result.phases || {})
      .filter(([name]) => name !== "total")
      .map(([name, ms]) => `${PHASE_LABELS[name] || name} ${formatMs(ms)}`);
    const score = anomalyScore(result);
    fill(
      this.readout,
      h("strong", null, formatTime(result.started_at)),
      " · ",
      result.ok
        ? `${formatMs(result.latency_ms)}`
        : h("span", { class: "problem" }, `failed (${result.reason || "unknown"})`),
      phases.length ? ` · ${phases.join(", ")}` : null,
      score !== null ? ` · anomaly ${score.toFixed(2)}` : null,
      !result.ok && result.message ? ` · ${result.message}` : null,
    );
  }

  // -- uptime ----------------------------------------------------------------------

  buildUptime() {
    this.uptimeFigures = new Map();
    const list = h("dl", { class: "uptime-figures" });
    for (const [key, label] of UPTIME_SPANS) {
      const value = h("dd", { class: "uptime-value" }, "…");
      const detail = h("dd", { class: "uptime-detail muted small" });
      this.uptimeFigures.set(key, { value, detail });
      list.append(
        h(
          "div",
          { class: "uptime-figure", dataset: { span: key } },
          h("dt", null, label),
          value,
          detail,
        ),
      );
    }
    return h(
      "section",
      { class: "card", "aria-labelledby": "uptime-title" },
      h("h2", { id: "uptime-title" }, "Uptime"),
      list,
    );
  }

  async loadUptime() {
    const until = Math.floor(Date.now() / 1000);
    await Promise.all(
      UPTIME_SPANS.map(async ([key, , span]) => {
        const { value, detail } = this.uptimeFigures.get(key);
        try {
          const answer = await get("/reports/summary", {
            monitors: this.id,
            since: until - span,
            until,
          });
          const row = (answer.monitors || []).find((item) => item.monitor_id === this.id);
          value.textContent = row && row.uptime !== null ? formatRatio(row.uptime) : "–";
          fill(
            detail,
            h(
              "span",
              null,
              row && row.count ? `${row.count.toLocaleString()} checks` : "No checks",
            ),
            row?.p95 !== null && row?.p95 !== undefined
              ? h("span", null, `p95 ${formatMs(row.p95)}`)
              : null,
          );
        } catch (error) {
          value.textContent = "–";
          detail.textContent = failureText("Loading", error);
        }
      }),
    );
  }

  // -- SLOs -------------------------------------------------------------------------

  buildSlos() {
    this.sloBox = h("div", { class: "slo-list" }, h("p", { class: "muted" }, "Loading…"));
    return h(
      "section",
      { class: "card", "aria-labelledby": "slo-title" },
      h("h2", { id: "slo-title" }, "SLOs and error budget"),
      this.sloBox,
    );
  }

  async loadSlos() {
    let slos;
    try {
      slos = await all("/slos", "slos", {}, 2000);
    } catch (error) {
      fill(this.sloBox, h("p", { class: "problem" }, failureText("Loading the SLOs", error)));
      return;
    }
    const tags = new Set(this.monitor.tags || []);
    const covering = slos.filter(
      (slo) =>
        (slo.monitors || []).includes(this.id) || (slo.tags || []).some((tag) => tags.has(tag)),
    );
    if (!covering.length) {
      fill(
        this.sloBox,
        h("p", { class: "muted", id: "no-slo" }, "No SLO covers this monitor."),
        h(
          "p",
          { class: "small muted" },
          "An SLO names monitors by id or by tag: ",
          h("a", { href: "#/slos" }, "create one"),
          ` listing "${this.id}"`,
          tags.size ? ` or one of its tags (${[...tags].join(", ")})` : "",
          ".",
        ),
      );
      return;
    }
    const shown = covering.slice(0, SLOS_SHOWN);
    const items = await Promise.all(shown.map((slo) => this.sloItem(slo)));
    if (this.stopped) return;
    fill(
      this.sloBox,
      items,
      covering.length > shown.length
        ? h("p", { class: "muted small" }, `${covering.length - shown.length} more SLOs cover it.`)
        : null,
    );
  }

  async sloItem(slo) {
    const objective = slo.objective || {};
    const goal =
      objective.kind === "latency"
        ? `${objective.target}% of checks under ${formatMs(objective.threshold_ms)}`
        : `${objective.target}% of checks succeed`;
    const heading = h(
      "div",
      { class: "slo-head" },
      h("h3", null, slo.name || slo.id),
      h("span", { class: "muted small" }, `${goal}, over ${describeSpan(slo.window || 30 * DAY)}`),
    );
    let status;
    try {
      status = await get(`/slos/${seg(slo.id)}/status`);
    } catch (error) {
      return h(
        "article",
        { class: "slo", dataset: { slo: slo.id } },
        heading,
        h("p", { class: "problem" }, failureText("Loading its status", error)),
      );
    }
    const budget = status.budget || {};
    const remaining = typeof budget.remaining === "number" ? budget.remaining : null;
    const shown = remaining === null ? 0 : Math.max(0, Math.min(1, remaining));
    const level =
      remaining === null ? "" : remaining <= 0 ? "spent" : remaining < 0.25 ? "low" : "ok";
    const alerts = status.alerts || [];
    return h(
      "article",
      { class: "slo", dataset: { slo: slo.id } },
      heading,
      h(
        "dl",
        { class: "slo-figures" },
        h(
          "div",
          null,
          h("dt", null, "Attained"),
          h(
            "dd",
            null,
            budget.attained === null || budget.attained === undefined
              ? "–"
              : `${budget.attained.toFixed(3)}%`,
          ),
        ),
        h(
          "div",
          null,
          h("dt", null, "Budget left"),
          h(
            "dd",
            { class: `budget-${level}` },
            remaining === null ? "–" : `${(remaining * 100).toFixed(1)}%`,
          ),
        ),
        h(
          "div",
          null,
          h("dt", null, `Burn rate, last ${describeSpan((slo.window || 30 * DAY) / 10)}`),
          h(
            "dd",
            null,
            typeof budget.recent_burn_rate === "number"
              ? `${budget.recent_burn_rate.toFixed(2)}×`
              : "–",
          ),
        ),
      ),
      h("meter", {
        class: "budget-meter",
        min: 0,
        max: 1,
        low: 0.25,
        high: 0.5,
        optimum: 1,
        value: shown,
        "aria-label": "Error budget left",
      }),
      h(
        "p",
        { class: "small" },
        budget.exhausted_at
          ? h(
              "span",
              { class: "problem" },
              `At the recent pace the budget runs out ${formatTime(budget.exhausted_at)}.`,
            )
          : remaining !== null && remaining <= 0
            ? h("span", { class: "problem" }, "The budget is spent.")
            : "At the recent pace the budget does not run out.",
        ` ${(budget.consumed ?? 0).toLocaleString()} bad of `,
        `${(budget.total ?? 0).toLocaleString()} checks.`,
      ),
      alerts.length
        ? h(
            "ul",
            { class: "burn-alerts" },
            alerts.map((alert) =>
              h(
                "li",
                { class: `burn-${alert.severity}` },
                h("strong", null, alert.severity),
                ` ${alert.reason}`,
              ),
            ),
          )
        : null,
    );
  }

  // -- incidents ----------------------------------------------------------------------

  buildIncidents() {
    this.incidentBox = h("div", null, h("p", { class: "muted" }, "Loading…"));
    return h(
      "section",
      { class: "card monitor-section", "aria-labelledby": "incidents-title" },
      h("h2", { id: "incidents-title" }, "Incidents"),
      this.incidentBox,
    );
  }

  async loadIncidents() {
    let answer;
    try {
      answer = await get("/incidents", { monitor: this.id, limit: INCIDENTS_SHOWN });
    } catch (error) {
      fill(this.incidentBox, h("p", { class: "problem" }, failureText("Loading incidents", error)));
      return;
    }
    if (this.stopped) return;
    const incidents = answer.incidents || [];
    if (!incidents.length) {
      fill(this.incidentBox, h("p", { class: "muted", id: "no-incidents" }, "No incidents."));
      return;
    }
    fill(
      this.incidentBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "incidents-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", null, "Status"),
              h("th", null, "Opened"),
              h("th", null, "Resolved"),
              h("th", null, h("span", { class: "visually-hidden" }, "Link")),
            ),
          ),
          h(
            "tbody",
            null,
            incidents.map((incident) =>
              h(
                "tr",
                { dataset: { incident: incident.id } },
                h(
                  "td",
                  null,
                  h(
                    "span",
                    { class: `incident-status incident-${incident.status}` },
                    incident.status,
                  ),
                ),
                h("td", null, formatTime(incident.opened_at)),
                h("td", null, incident.resolved_at ? formatTime(incident.resolved_at) : "–"),
                h("td", null, h("a", { href: `#/incidents/${seg(incident.id)}` }, "View")),
              ),
            ),
          ),
        ),
      ),
      answer.next_cursor
        ? h(
            "p",
            { class: "small" },
            h(
              "a",
              { href: `#/incidents?monitor=${seg(this.id)}` },
              "All incidents of this monitor",
            ),
          )
        : null,
    );
  }

  // -- recent results -------------------------------------------------------------------

  buildResults() {
    this.resultBody = h("tbody");
    this.moreButton = h(
      "button",
      { type: "button", id: "load-more", hidden: true, onclick: () => this.loadResults(true) },
      "Load more",
    );
    this.resultNote = h("p", { class: "muted", hidden: true }, "No checks yet.");
    return h(
      "section",
      { class: "monitor-section", "aria-labelledby": "results-title" },
      h("h2", { id: "results-title" }, "Recent checks"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "results-table", class: "results-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Time", "State", "Latency", "Reason", "Message"].map((label) =>
                h("th", { scope: "col" }, label),
              ),
            ),
          ),
          this.resultBody,
        ),
      ),
      this.resultNote,
      h("div", { class: "load-more" }, this.moreButton),
    );
  }

  async loadResults(more = false) {
    const query = { limit: TABLE_PAGE };
    if (more && this.cursor) query.cursor = this.cursor;
    else if (more && this.olderThan !== null) query.until = this.olderThan;
    this.moreButton.disabled = true;
    let page;
    try {
      page = await get(this.path("/results"), query);
    } catch (error) {
      toast(failureText("Loading checks", error), "error");
      this.moreButton.disabled = false;
      return;
    }
    if (this.stopped) return;
    if (!more) {
      this.rows = [];
      this.resultBody.replaceChildren();
    }
    for (const result of page.results) {
      this.rows.push(result);
      this.resultBody.append(this.resultRow(result));
    }
    this.cursor = page.next_cursor;
    this.olderThan = null;
    this.moreButton.hidden = !this.cursor;
    this.moreButton.disabled = false;
    this.resultNote.hidden = this.rows.length > 0;
  }

  resultRow(result) {
    const time = h(
      "time",
      {
        datetime: new Date(result.started_at * 1000).toISOString(),
        title: formatTime(result.started_at),
      },
      shortTime(result.started_at),
    );
    const score = anomalyScore(result);
    return h(
      "tr",
      { class: result.ok ? "" : "failed", dataset: { at: String(result.started_at) } },
      h("td", { class: "nowrap" }, time),
      h("td", null, stateBadge(result.state)),
      h(
        "td",
        { class: "number" },
        formatMs(result.latency_ms),
        score !== null && score >= ANOMALY_THRESHOLD
          ? h(
              "span",
              { class: "anomaly-mark", title: `Anomaly score ${score.toFixed(2)}` },
              ` ▲ ${score.toFixed(2)}`,
            )
          : null,
      ),
      h("td", null, result.reason || ""),
      h("td", { class: "message" }, result.message || ""),
    );
  }

  prependResult(result) {
    if (this.rows.length && result.started_at <= this.rows[0].started_at) return;
    this.rows.unshift(result);
    this.resultBody.prepend(this.resultRow(result));
    this.resultNote.hidden = true;
    if (this.rows.length > TABLE_CAP) {
      this.rows.length = TABLE_CAP;
      while (this.resultBody.children.length > TABLE_CAP) this.resultBody.lastElementChild.remove();
      // The oldest rows were dropped, so the next page starts from the oldest kept.
      this.cursor = null;
      this.olderThan = this.rows[this.rows.length - 1].started_at;
      this.moreButton.hidden = false;
    }
  }

  // -- live updates ------------------------------------------------------------------------

  startLive() {
    live.watch([this.id], "monitor");
    this.unhooks.push(
      live.on("result", (result) => this.takeResult(result)),
      live.on("event", (event) => this.takeEvent(event)),
      live.on("incident", (data) => this.takeIncident(data)),
      live.on("reload", () => this.reloadAll()),
    );
  }

  takeResult(result) {
    if (result.monitor_id !== this.id || this.stopped) return;
    this.lastResult = result;
    this.renderLastCheck();
    // Maintenance is told over the checked state by alerting, never by results.
    if (result.state && result.state !== this.state && this.state !== "maintenance") {
      const degradedChanged = result.state === "degraded" || this.state === "degraded";
      this.setState(result.state);
      if (degradedChanged) this.loadDegraded();
    }
    this.prependResult(result);
    if (!this.zoom) {
      const until = Math.max(Date.now() / 1000, result.started_at);
      const since = until - this.range[2];
      this.chart.add(result, since, until);
      this.chartBox.setAttribute("aria-label", this.chart.describe());
      this.chartNote.textContent = this.chartNoteText(this.chart.rows, false, since, until);
    }
  }

  takeEvent(event) {
    if (this.stopped) return;
    if (event.type === "monitors_applied") {
      this.reloadHead();
      return;
    }
    if (event.monitor_id !== this.id) return;
    if (event.type === "monitor_deleted") {
      this.markRemoved();
    } else if (event.type.startsWith("monitor_")) {
      this.reloadHead();
    } else if (event.data?.after) {
      this.setState(event.data.after);
      if (event.data.after === "degraded" || event.data.before === "degraded") this.loadDegraded();
    }
  }

  takeIncident(data) {
    const incident = data?.data?.incident || data?.incident || data?.data || data;
    if ((incident?.monitor_id || data?.monitor_id) === this.id) this.loadIncidents();
  }

  reloadAll() {
    this.reloadHead();
    this.loadChart();
    this.loadResults();
  }
}
