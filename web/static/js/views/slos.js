// Service level objectives: a share of checks that must go well over a rolling
// window, and how much room for failure (the error budget) is left.
//
// The list renders from the settings alone; each SLO's live status (budget,
// burn rate, forecast, burn-rate alerts) is asked for afterwards, a few at a
// time, and asked again every minute while the page is open and visible.

import { ApiError, get, seg } from "../api.js";
import { field, fill, formatRatio, formatTime, h, parseDuration, useStyles } from "../dom.js";
import {
  formatDuration,
  formatSpan,
  monitorChooser,
  monitorName,
  monitorsReady,
  tagChooser,
} from "../ops/kit.js";
import { failureText, optional, settingsPage } from "../ops/settings-page.js";

const SHOWN_MONITORS = 5;
const STATUSES_AT_ONCE = 4;
const STATUS_REFRESH_MS = 60_000;
const DEFAULT_WINDOW = 30 * 86400;

/**
 * The latency buckets' upper bounds (ms): a check counts as fast only in a
 * bucket wholly under the threshold.
 */
const LATENCY_BOUNDS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000,
  60000,
];

let boundListCount = 0;

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), useStyles("routes-slos"), monitorsReady()]);
  const statuses = statusLoader();
  const page = settingsPage(root, context, {
    title: "SLOs",
    intro:
      "Service level objectives: the share of checks that must pass (or answer fast enough) over a rolling window. What may fail is the error budget; burning it fast opens an incident of the stand-in monitor slo:<id>.",
    path: "/slos",
    key: "slos",
    noun: "SLO",
    idHint: "Letters, digits, '.', '_' or '-', e.g. checkout.",
    known: ["name", "monitors", "tags", "objective", "window"],
    summary: (slo) => summary(slo, statuses),
    form,
  });
  await page.ready;
  return statuses.stop;
}

// -- live status -------------------------------------------------------------------

/**
 * Asks for SLO statuses a few at a time, once their list items are on the
 * page, and again every minute for those still shown.
 */
function statusLoader() {
  const waiting = [];
  const shown = new Map();
  let running = 0;
  let stopped = false;

  function next() {
    while (!stopped && running < STATUSES_AT_ONCE && waiting.length) {
      const { slo, holder } = waiting.shift();
      if (!holder.isConnected) continue;
      running += 1;
      load(slo, holder).finally(() => {
        running -= 1;
        next();
      });
    }
  }

  async function load(slo, holder) {
    holder.setAttribute("aria-busy", "true");
    try {
      const status = await get(`/slos/${seg(slo.id)}/status`);
      if (!stopped) fill(holder, renderStatus(slo, status));
    } catch (error) {
      if (!stopped) fill(holder, statusFailure(error));
    } finally {
      holder.removeAttribute("aria-busy");
    }
  }

  // A timeout lets the settings page put the list in place first.
  const start = () => setTimeout(next, 0);

  const timer = setInterval(() => {
    if (document.hidden) return;
    for (const [holder, slo] of shown) {
      if (holder.isConnected) waiting.push({ slo, holder });
      else shown.delete(holder);
    }
    next();
  }, STATUS_REFRESH_MS);

  return {
    want(slo, holder) {
      shown.set(holder, slo);
      waiting.push({ slo, holder });
      start();
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      waiting.length = 0;
      shown.clear();
    },
  };
}

function statusFailure(error) {
  const text =
    error instanceof ApiError && error.status === 404
      ? "No status: this SLO is gone."
      : `Status unavailable: ${failureText(error)}`;
  return h("p", { class: "problem small" }, text);
}

function renderStatus(slo, status) {
  const budget = status.budget || {};
  const objective = slo.objective || {};
  const window = slo.window || DEFAULT_WINDOW;
  const counted = status.monitors || [];
  return [
    attainment(budget, objective, counted),
    budgetBar(budget),
    h(
      "dl",
      { class: "facts slo-facts" },
      h("dt", null, "Burn rate"),
      h(
        "dd",
        { class: "slo-burn" },
        h("strong", null, burnText(budget.recent_burn_rate)),
        ` over the last ${formatSpan(window / 10)}`,
        h("span", { class: "muted small" }, " (1× spends the budget exactly over the window)"),
      ),
      h("dt", null, "Forecast"),
      h("dd", { class: "slo-forecast" }, forecast(budget)),
    ),
    alerts(status.alerts || []),
  ];
}

function attainment(budget, objective, counted) {
  const over = `over ${counted.length} monitor${counted.length === 1 ? "" : "s"}`;
  if (budget.attained === null || budget.attained === undefined || !budget.total) {
    return h("p", { class: "slo-attained muted" }, `No checks in the window yet (${over}).`);
  }
  const meeting = budget.attained >= objective.target;
  return h(
    "p",
    { class: "slo-attained" },
    h("strong", { class: "slo-figure" }, formatRatio(budget.attained / 100)),
    ` of ${budget.total.toLocaleString()} checks went well (target ${objective.target}%), ${over} `,
    h(
      "span",
      { class: `tag-badge ${meeting ? "badge-ok" : "badge-failed"}` },
      meeting ? "Meeting target" : "Below target",
    ),
  );
}

function budgetBar(budget) {
  const remaining = budget.remaining ?? 1;
  const left = Math.max(0, Math.min(1, remaining));
  const text =
    remaining >= 0
      ? `${Math.round(remaining * 1000) / 10}% of the error budget left`
      : `Budget overspent: ${burnText(1 - remaining)} the allowance spent`;
  const level = remaining > 0.5 ? "ok" : remaining > 0.2 ? "warn" : "low";
  const fillBar = h("div", { class: `slo-bar-fill slo-bar-${level}` });
  fillBar.style.width = `${left * 100}%`;
  return h(
    "div",
    { class: "slo-budget" },
    h(
      "div",
      {
        class: remaining < 0 ? "slo-bar slo-bar-overspent" : "slo-bar",
        role: "meter",
        "aria-label": "Error budget left",
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": Math.round(left * 100),
        "aria-valuetext": text,
      },
      fillBar,
    ),
    h(
      "p",
      { class: "small slo-budget-text" },
      h("strong", null, text),
      budget.total
        ? ` (${(budget.consumed ?? 0).toLocaleString()} failed checks, ` +
            `${checkCount(budget.allowed)} allowed)`
        : null,
    ),
  );
}

/** A number of checks that may be a fraction, as an allowance is. */
function checkCount(count) {
  const value = count ?? 0;
  if (value >= 10) return Math.floor(value).toLocaleString();
  return String(Math.round(value * 100) / 100);
}

function burnText(rate) {
  if (rate === null || rate === undefined) return "–";
  return `${rate < 10 ? rate.toFixed(2) : rate.toFixed(1)}×`;
}

function forecast(budget) {
  if ((budget.remaining ?? 1) <= 0) return "the budget is spent";
  if (!budget.exhausted_at) {
    return "not running out: the recent burn rate is within the objective";
  }
  const left = budget.exhausted_at - Date.now() / 1000;
  return [
    "runs out in ",
    h("strong", null, formatSpan(left)),
    " at the recent rate (",
    h(
      "time",
      { datetime: new Date(budget.exhausted_at * 1000).toISOString() },
      formatTime(budget.exhausted_at),
    ),
    ")",
  ];
}

function alerts(firing) {
  if (!firing.length) {
    return h("p", { class: "muted small slo-alerts-none" }, "No burn-rate alert firing.");
  }
  return h(
    "div",
    { class: "slo-alerts-firing" },
    h("h3", null, "Burn-rate alerts firing"),
    h("ul", { class: "slo-alerts" }, firing.map(alertItem)),
  );
}

function alertItem(alert) {
  const paging = alert.severity === "page";
  return h(
    "li",
    null,
    h(
      "span",
      { class: `tag-badge ${paging ? "badge-failed" : "badge-warn"}` },
      paging ? "Page" : "Ticket",
    ),
    " ",
    alert.reason,
  );
}

// -- the list ---------------------------------------------------------------------

function objectiveText(slo) {
  const objective = slo.objective || {};
  const window = formatDuration(slo.window || DEFAULT_WINDOW);
  if (objective.kind === "latency") {
    return `${objective.target}% of checks pass under ${objective.threshold_ms} ms, over ${window}`;
  }
  return `${objective.target}% of checks pass, over ${window}`;
}

function summary(slo, statuses) {
  const names = (slo.monitors || []).map(monitorName);
  const more = names.length > SHOWN_MONITORS ? ` and ${names.length - SHOWN_MONITORS} more` : "";
  const holder = h(
    "div",
    { class: "slo-status", "aria-label": `Status of ${slo.name || slo.id}` },
    h("p", { class: "muted small" }, "Loading status…"),
  );
  statuses.want(slo, holder);
  return [
    h(
      "p",
      { class: "badges" },
      h(
        "span",
        { class: "tag-badge" },
        slo.objective?.kind === "latency" ? "Latency" : "Availability",
      ),
    ),
    h("p", { class: "slo-objective" }, objectiveText(slo)),
    h(
      "dl",
      { class: "facts" },
      names.length ? h("dt", null, "Monitors") : null,
      names.length ? h("dd", null, names.slice(0, SHOWN_MONITORS).join(", ") + more) : null,
      slo.tags?.length ? h("dt", null, "Tags") : null,
      slo.tags?.length
        ? h(
            "dd",
            null,
            slo.tags.map((tag) => h("span", { class: "tag-badge" }, tag)),
          )
        : null,
    ),
    holder,
  ];
}

// -- the form ---------------------------------------------------------------------


/** What a target over a window allows, in words: the budget a form is about to set. */
function budgetHint(kind, targetText, windowText) {
  const target = Number(targetText);
  const window = parseDuration(windowText || "30d");
  if (!targetText.trim() || !(target > 0 && target < 100) || !window) return "";
  const share = 1 - target / 100;
  const percent = `${Math.round(share * 10000) / 100}%`;
  if (kind === "latency") return `Budget: ${percent} of checks may be slow or fail.`;
  const outage = formatSpan(share * window);
  const span = formatDuration(window);
  return `Budget: ${percent} of checks may fail, about ${outage} of full outage in ${span}.`;
}

/** The note for a latency threshold that is not a bucket bound. */
function thresholdHint(text) {
  const threshold = Number(text);
  if (!text.trim() || !(threshold > 0) || LATENCY_BOUNDS_MS.includes(threshold)) return "";
  const under = LATENCY_BOUNDS_MS.filter((bound) => bound <= threshold).pop();
  return under
    ? `Counted as under ${under} ms: checks are measured in buckets, ` +
        "and one straddling the threshold counts as slow."
    : "Under the smallest bucket (1 ms): no check would count as fast.";
}

function form(slo) {
  const objective = slo?.objective || { kind: "availability", target: 99.9 };
  const name = h("input", { name: "name", value: slo?.name || "" });
  const monitorsPick = monitorChooser(
    "monitors",
    "Monitors",
    slo?.monitors || [],
    "Search by name, id or tag.",
  );
  const tagsPick = tagChooser(
    "tags",
    "Tags",
    slo?.tags || [],
    "Every monitor carrying one of these counts.",
  );

  const kind = h(
    "select",
    { name: "objective.kind" },
    h("option", { value: "availability" }, "Availability"),
    h("option", { value: "latency" }, "Latency"),
  );
  kind.value = objective.kind === "latency" ? "latency" : "availability";
  const target = h("input", {
    name: "objective.target",
    type: "number",
    min: 0,
    max: 100,
    step: "any",
    inputmode: "decimal",
    value: objective.target ?? "",
  });
  const boundList = `slo-bounds-${++boundListCount}`;
  const threshold = h("input", {
    name: "objective.threshold_ms",
    type: "number",
    min: 0,
    step: "any",
    inputmode: "decimal",
    list: boundList,
    value: objective.threshold_ms ?? "",
  });
  const window = h("input", {
    name: "window",
    value: formatDuration(slo?.window ?? DEFAULT_WINDOW),
    spellcheck: "false",
    autocomplete: "off",
  });

  const thresholdField = field(
    "Threshold (ms)",
    threshold,
    "A check goes well when it passes faster than this, e.g. 300.",
  );
  const thresholdNote = h("p", { class: "field-hint slo-threshold-note", "aria-live": "polite" });
  thresholdField.querySelector(".field-problem").before(thresholdNote);
  const budgetNote = h("p", { class: "slo-budget-hint", "aria-live": "polite" });

  function refresh() {
    thresholdField.hidden = kind.value !== "latency";
    thresholdNote.textContent = thresholdHint(threshold.value);
    budgetNote.textContent = budgetHint(kind.value, target.value, window.value);
  }
  kind.addEventListener("change", refresh);
  for (const input of [target, threshold, window]) input.addEventListener("input", refresh);
  refresh();

  const number = (text) => {
    const value = text.trim();
    if (value === "") return undefined;
    return Number.isFinite(Number(value)) ? Number(value) : value;
  };

  return {
    fields: [
      field("Name", name, slo ? null : "Leave empty to use the id."),
      h(
        "fieldset",
        { class: "slo-scope" },
        h("legend", null, "Which monitors"),
        h(
          "p",
          { class: "field-hint" },
          "Name at least one monitor or tag; their checks count together.",
        ),
        monitorsPick.element,
        tagsPick.element,
      ),
      h(
        "fieldset",
        { class: "field slo-objective-field", dataset: { field: "objective" } },
        h("legend", null, "Objective"),
        // First in the wrapper, so problems with the objective as a whole
        // land here and not at one of its fields.
        h("p", { class: "field-problem", role: "alert", hidden: true }),
        field(
          "Kind",
          kind,
          "Availability: checks that pass. Latency: checks that pass faster than a threshold.",
        ),
        h(
          "div",
          { class: "form-row" },
          field("Target (%)", target, "The share of checks that must go well, e.g. 99.9."),
          thresholdField,
          field("Window", window, "Rolling, from 1h to 90d; e.g. 30d or 7d."),
        ),
        h(
          "datalist",
          { id: boundList },
          LATENCY_BOUNDS_MS.map((bound) => h("option", { value: bound })),
        ),
        budgetNote,
      ),
    ],
    focus: name,
    read() {
      const body = { kind: kind.value, target: number(target.value) };
      if (kind.value === "latency") body.threshold_ms = number(threshold.value);
      return {
        name: optional(name.value),
        monitors: monitorsPick.value(),
        tags: tagsPick.value(),
        objective: body,
        window: optional(window.value),
      };
    },
  };
}
