// Alert routes: which monitors' incidents go where, and how they are grouped.
//
// Routes are tried by `order` (then id) and the first that matches a monitor
// takes it; a route naming no monitors, tags or kinds takes every monitor.
// The list is shown in that order, with how many of the dashboard's monitors
// each route takes now, so a route hidden behind a broader one stands out.

import { all } from "../api.js";
import { field, h, useStyles } from "../dom.js";
import { KINDS } from "../monitor-kinds.js";
import { monitors } from "../store.js";
import {
  chooser,
  formatDuration,
  knownTags,
  monitorChooser,
  monitorName,
  monitorsReady,
  tagChooser,
} from "../ops/kit.js";
import { optional, settingsPage } from "../ops/settings-page.js";

const SHOWN_MONITORS = 5;
const DEFAULT_ORDER = 100;

/** How a route may group, besides tag:<key> and options.<name>. */
const GROUP_FIELDS = [
  ["monitor", "each monitor on its own"],
  ["kind", "by check kind"],
  ["priority", "by priority"],
  ["target", "by target"],
  ["tags", "by the whole set of tags"],
];

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), useStyles("routes-slos"), monitorsReady()]);
  const [channels, policies] = await Promise.all([
    all("/channels", "channels").catch(() => []),
    all("/escalation-policies", "escalation_policies").catch(() => []),
  ]);
  const known = {
    channels,
    channelNames: new Map(channels.map((channel) => [channel.id, channel.name || channel.id])),
    policies,
    policyNames: new Map(policies.map((policy) => [policy.id, policy.name || policy.id])),
    taken: new Map(),
    shadowedBy: new Map(),
  };

  const page = settingsPage(root, context, {
    title: "Routes",
    intro:
      "Routes are tried from the lowest order up, and the first that matches a monitor takes it: its incidents go to that route's channels, grouped so that monitors failing together make one notification. \"Takes now\" counts the monitors a route gets after the routes before it.",
    path: "/routes",
    key: "routes",
    noun: "route",
    idHint: "Letters, digits, '.', '_' or '-', e.g. eu-web.",
    known: [
      "name",
      "order",
      "monitors",
      "tags",
      "kinds",
      "group_by",
      "group_wait",
      "group_interval",
      "repeat_interval",
      "channels",
      "escalation",
    ],
    arrange: (routes) => arrange(routes, known),
    summary: (route) => summary(route, known),
    form: (route) => form(route, known),
  });
  await page.ready;
}

// -- order and reach -----------------------------------------------------------

function byOrder(a, b) {
  return (a.order ?? DEFAULT_ORDER) - (b.order ?? DEFAULT_ORDER) || (a.id < b.id ? -1 : 1);
}

function takesEverything(route) {
  return !route.monitors?.length && !route.tags?.length && !route.kinds?.length;
}

/** A test of whether a route takes a dashboard row, with its lists as sets. */
function matcher(route) {
  if (takesEverything(route)) return () => true;
  const ids = new Set(route.monitors || []);
  const tags = new Set(route.tags || []);
  const kinds = new Set(route.kinds || []);
  return (row) => ids.has(row.id) || kinds.has(row.type) || row.tags.some((tag) => tags.has(tag));
}

/**
 * Sort the routes as they are tried, and note for each how many monitors it
 * takes now (first match wins) and which earlier route takes everything
 * before it, if any.
 */
function arrange(routes, known) {
  const sorted = [...routes].sort(byOrder);
  const tests = sorted.map(matcher);
  const counts = new Array(sorted.length).fill(0);
  for (const row of monitors.rows.values()) {
    const at = tests.findIndex((test) => test(row));
    if (at >= 0) counts[at] += 1;
  }
  known.taken = new Map(sorted.map((route, at) => [route.id, counts[at]]));

  known.shadowedBy = new Map();
  const catchAll = sorted.find(takesEverything);
  if (catchAll) {
    for (const route of sorted.slice(sorted.indexOf(catchAll) + 1)) {
      known.shadowedBy.set(route.id, catchAll);
    }
  }
  return sorted;
}

// -- the list --------------------------------------------------------------------

function summary(route, known) {
  const shadow = known.shadowedBy.get(route.id);
  const taken = known.taken.get(route.id) ?? 0;
  return [
    h(
      "p",
      { class: "badges" },
      h("span", { class: "tag-badge route-order" }, `Order ${route.order ?? DEFAULT_ORDER}`),
      takesEverything(route)
        ? h("span", { class: "tag-badge badge-active" }, "Every monitor")
        : null,
      shadow ? h("span", { class: "tag-badge badge-warn" }, "Never reached") : null,
    ),
    shadow
      ? h(
          "p",
          { class: "small route-shadowed" },
          `${shadow.name || shadow.id} comes first and takes every monitor, ` +
            "so this route takes none.",
        )
      : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Matches"),
      h("dd", null, matches(route)),
      h("dt", null, "Takes now"),
      h(
        "dd",
        { class: "route-taken" },
        `${taken} monitor${taken === 1 ? "" : "s"}`,
      ),
      h("dt", null, "Sends to"),
      h("dd", null, sendsTo(route, known)),
      h("dt", null, "Escalation"),
      h(
        "dd",
        null,
        route.escalation
          ? known.policyNames.get(route.escalation) || route.escalation
          : h("span", { class: "muted" }, "none"),
      ),
      h("dt", null, "Groups"),
      h("dd", null, grouping(route)),
      h("dt", null, "Timing"),
      h(
        "dd",
        null,
        `first after ${formatDuration(route.group_wait) || "0s"}, changes at most every `,
        `${formatDuration(route.group_interval)}, told again every `,
        formatDuration(route.repeat_interval),
      ),
    ),
  ];
}

function matches(route) {
  if (takesEverything(route)) return "every monitor";
  const names = (route.monitors || []).map(monitorName);
  const more = names.length > SHOWN_MONITORS ? ` and ${names.length - SHOWN_MONITORS} more` : "";
  return [
    names.length
      ? h("span", { class: "block" }, names.slice(0, SHOWN_MONITORS).join(", ") + more)
      : null,
    route.tags?.length
      ? h(
          "span",
          { class: "block" },
          "tagged ",
          route.tags.map((tag) => h("span", { class: "tag-badge" }, tag)),
        )
      : null,
    route.kinds?.length
      ? h(
          "span",
          { class: "block" },
          "of kind ",
          route.kinds.map((kind) => h("span", { class: "tag-badge" }, kind)),
        )
      : null,
  ];
}

function sendsTo(route, known) {
  if (!route.channels?.length) {
    return h("span", { class: "muted" }, "no channel: its incidents are kept, not told");
  }
  return route.channels.map((id) =>
    h("span", { class: "tag-badge" }, known.channelNames.get(id) || id),
  );
}

function grouping(route) {
  const by = route.group_by || [];
  if (!by.length) return "all of its monitors in one group";
  if (by.length === 1 && by[0] === "monitor") return "each monitor on its own";
  return ["by ", by.map((name) => h("span", { class: "tag-badge" }, name))];
}

// -- the form --------------------------------------------------------------------

/** Check kinds a route may name: the form's own, and any the monitors have. */
function kindOptions(text) {
  const names = new Set(["slo"]);
  for (const kind of KINDS) {
    names.add(kind.kind);
    for (const alias of kind.aliases || []) names.add(alias);
  }
  for (const row of monitors.rows.values()) names.add(row.type);
  return [...names]
    .filter((name) => name && (!text || name.toLowerCase().includes(text)))
    .sort()
    .map((name) => ({
      value: name,
      label: name,
      hint: name === "slo" ? "SLO burn-rate alerts" : null,
    }));
}

/** What a route may group by, with the tag keys written key:value or key=value. */
function groupOptions(text) {
  const keys = new Set();
  for (const [tag] of knownTags()) {
    const cut = tag.search(/[:=]/);
    if (cut > 0) keys.add(tag.slice(0, cut));
  }
  const options = [
    ...GROUP_FIELDS.map(([value, hint]) => ({ value, label: value, hint })),
    ...[...keys].sort().map((key) => ({
      value: `tag:${key}`,
      label: `tag:${key}`,
      hint: `by the value of tags ${key}:…`,
    })),
  ];
  return options.filter((option) => !text || option.value.toLowerCase().includes(text));
}

function form(route, known) {
  const name = h("input", { name: "name", value: route?.name || "" });
  const order = h("input", {
    name: "order",
    type: "number",
    step: 1,
    value: route?.order ?? DEFAULT_ORDER,
  });

  const monitorsPick = monitorChooser(
    "monitors",
    "Monitors",
    route?.monitors || [],
    "Search by name, id or tag.",
  );
  const tagsPick = tagChooser("tags", "Tags", route?.tags || [], "Monitors carrying any of these.");
  const kindsPick = chooser({
    name: "kinds",
    label: "Kinds",
    values: route?.kinds || [],
    options: kindOptions,
    free: true,
    hint: "Monitors of these check kinds; slo takes SLO burn-rate alerts.",
  });

  const channelsPick = chooser({
    name: "channels",
    label: "Channels",
    values: route?.channels || [],
    options: (text) =>
      known.channels
        .filter(
          (channel) => !text || `${channel.id} ${channel.name || ""}`.toLowerCase().includes(text),
        )
        .map((channel) => ({
          value: channel.id,
          label: channel.name || channel.id,
          hint: channel.kind,
        })),
    labelOf: (id) => known.channelNames.get(id) || id,
    hint: known.channels.length
      ? "Every notification of the route goes to each of these."
      : "No channels yet: create one on the Channels page first.",
  });
  const escalation = h(
    "select",
    { name: "escalation" },
    h("option", { value: "" }, "None"),
    known.policies.map((policy) => h("option", { value: policy.id }, policy.name || policy.id)),
    route?.escalation && !known.policyNames.has(route.escalation)
      ? h("option", { value: route.escalation }, route.escalation)
      : null,
  );
  escalation.value = route?.escalation || "";

  const groupPick = chooser({
    name: "group_by",
    label: "Group by",
    values: route ? route.group_by || [] : ["monitor"],
    options: groupOptions,
    free: true,
    hint:
      "monitor: each on its own; tag:region: one group per region; also options.<name>. " +
      "Empty: all in one group.",
  });
  const duration = (fieldName, seconds, fallback) =>
    h("input", {
      name: fieldName,
      value: formatDuration(seconds ?? fallback),
      spellcheck: "false",
      autocomplete: "off",
    });
  const groupWait = duration("group_wait", route?.group_wait, 30);
  const groupInterval = duration("group_interval", route?.group_interval, 300);
  const repeatInterval = duration("repeat_interval", route?.repeat_interval, 4 * 3600);

  return {
    fields: [
      h(
        "div",
        { class: "form-row" },
        field("Name", name, route ? null : "Leave empty to use the id."),
        field("Order", order, "Lower is tried first; default 100."),
      ),
      h(
        "fieldset",
        { class: "route-match" },
        h("legend", null, "Which monitors"),
        h("p", { class: "field-hint" }, "Any of these matches; none at all takes every monitor."),
        monitorsPick.element,
        tagsPick.element,
        kindsPick.element,
      ),
      h(
        "fieldset",
        { class: "route-targets" },
        h("legend", null, "Where to"),
        channelsPick.element,
        field(
          "Escalation policy",
          escalation,
          known.policies.length
            ? "Who is told next when nobody acknowledges."
            : "No policies yet: create one on the Escalation page.",
        ),
      ),
      h(
        "fieldset",
        { class: "route-grouping" },
        h("legend", null, "Grouping"),
        groupPick.element,
        h(
          "div",
          { class: "form-row" },
          field("Wait before the first", groupWait, "For others to join, 0s to 1h; e.g. 30s."),
          field("Changes at most every", groupInterval, "1s to 1d; e.g. 5m."),
          field("Tell again every", repeatInterval, "While still firing, 1m to 30d; e.g. 4h."),
        ),
      ),
    ],
    focus: name,
    read() {
      const orderText = order.value.trim();
      return {
        name: optional(name.value),
        order:
          orderText === ""
            ? undefined
            : Number.isFinite(Number(orderText))
              ? Number(orderText)
              : orderText,
        monitors: monitorsPick.value(),
        tags: tagsPick.value(),
        kinds: kindsPick.value(),
        channels: channelsPick.value(),
        escalation: escalation.value || undefined,
        group_by: groupPick.value(),
        group_wait: optional(groupWait.value),
        group_interval: optional(groupInterval.value),
        repeat_interval: optional(repeatInterval.value),
      };
    },
  };
}
