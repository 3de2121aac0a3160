// Maintenance windows: when monitors are under planned work and kept quiet.
//
// A window is one-off (start and end) or recurring (a cron expression in a
// time zone, each occurrence lasting a duration). The API says whether one
// is active now and lists its next occurrences.

import { field, h, useStyles } from "../dom.js";
import {
  formatDuration,
  formatInZone,
  monitorChooser,
  monitorName,
  monitorsReady,
  tagChooser,
  timeZones,
  zonedInputValue,
} from "../ops/kit.js";
import { checkboxField, optional, settingsPage } from "../ops/settings-page.js";

const SHOWN_MONITORS = 5;
let zoneListCount = 0;

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), monitorsReady()]);
  const page = settingsPage(root, context, {
    title: "Maintenance windows",
    intro:
      "While a window is in force, its monitors show as under maintenance and their alerts are held.",
    path: "/maintenance",
    key: "maintenance",
    noun: "maintenance window",
    idHint: "Letters, digits, '.', '_' or '-', e.g. db-upgrade.",
    known: [
      "name",
      "description",
      "enabled",
      "monitors",
      "tags",
      "start",
      "end",
      "cron",
      "duration",
      "timezone",
      "active",
      "upcoming",
    ],
    summary,
    form,
  });
  await page.ready;
}

function summary(window) {
  const recurring = Boolean(window.cron);
  return [
    h(
      "p",
      { class: "badges" },
      window.active ? h("span", { class: "tag-badge badge-active" }, "In force now") : null,
      window.enabled === false ? h("span", { class: "tag-badge badge-off" }, "Disabled") : null,
      h("span", { class: "tag-badge" }, recurring ? "Recurring" : "One-off"),
    ),
    window.description ? h("p", null, window.description) : null,
    h("dl", { class: "facts" }, schedule(window), covered(window)),
    upcoming(window),
  ];
}

function schedule(window) {
  if (window.cron) {
    return [
      h("dt", null, "Schedule"),
      h(
        "dd",
        null,
        h("code", null, window.cron),
        ` for ${formatDuration(window.duration)} (${window.timezone})`,
      ),
    ];
  }
  return [
    h("dt", null, "When"),
    h(
      "dd",
      null,
      formatInZone(window.start, window.timezone),
      " – ",
      formatInZone(window.end, window.timezone),
      ` (${window.timezone})`,
    ),
  ];
}

function covered(window) {
  const names = (window.monitors || []).map(monitorName);
  const shown = names.slice(0, SHOWN_MONITORS).join(", ");
  const more = names.length > SHOWN_MONITORS ? ` and ${names.length - SHOWN_MONITORS} more` : "";
  return [
    names.length ? h("dt", null, "Monitors") : null,
    names.length ? h("dd", null, shown + more) : null,
    window.tags?.length ? h("dt", null, "Tags") : null,
    window.tags?.length
      ? h(
          "dd",
          null,
          window.tags.map((tag) => h("span", { class: "tag-badge" }, tag)),
        )
      : null,
  ];
}

function upcoming(window) {
  const next = window.upcoming || [];
  if (!next.length) {
    return h(
      "p",
      { class: "muted small" },
      window.enabled === false ? "Disabled: no occurrences." : "No occurrences to come.",
    );
  }
  return h(
    "div",
    { class: "upcoming" },
    h("h3", null, window.active ? "Now and next" : "Next"),
    h(
      "ol",
      { class: "occurrences" },
      next.map(({ start, end }) =>
        h(
          "li",
          null,
          h("time", { datetime: new Date(start * 1000).toISOString() }, formatInZone(start)),
          " – ",
          h("time", { datetime: new Date(end * 1000).toISOString() }, formatInZone(end)),
        ),
      ),
    ),
    h("p", { class: "muted small" }, "In this browser's time zone."),
  );
}

function form(window) {
  const zone = window?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const name = h("input", { name: "name", value: window?.name || "" });
  const description = h("textarea", { name: "description", rows: 2 }, window?.description || "");
  const enabled = checkboxField("Enabled", "enabled", window ? window.enabled !== false : true);
  const monitorsPick = monitorChooser(
    "monitors",
    "Monitors",
    window?.monitors || [],
    "Search by name, id or tag.",
  );
  const tagsPick = tagChooser(
    "tags",
    "Tags",
    window?.tags || [],
    "Every monitor carrying one of these tags is covered.",
  );

  const listId = `zones-${++zoneListCount}`;
  const timezone = h("input", {
    name: "timezone",
    value: zone,
    list: listId,
    autocomplete: "off",
    spellcheck: "false",
  });
  const zones = h(
    "datalist",
    { id: listId },
    timeZones().map((item) => h("option", { value: item })),
  );

  const start = h("input", {
    name: "start",
    type: "datetime-local",
    value: window?.start ? zonedInputValue(window.start, zone) : "",
  });
  const end = h("input", {
    name: "end",
    type: "datetime-local",
    value: window?.end ? zonedInputValue(window.end, zone) : "",
  });
  const cron = h("input", { name: "cron", value: window?.cron || "", spellcheck: "false" });
  const duration = h("input", {
    name: "duration",
    value: window?.duration ? formatDuration(window.duration) : "",
    spellcheck: "false",
  });

  const once = h(
    "div",
    { class: "schedule-once form-row" },
    field("Starts", start),
    field("Ends", end),
  );
  const repeats = h(
    "div",
    { class: "schedule-repeats form-row" },
    field("Cron expression", cron, "minute hour day month weekday, e.g. 0 2 * * sun"),
    field("Lasts", duration, "e.g. 2h or 90m, from 1m to 7d"),
  );
  const recurringNow = Boolean(window?.cron);
  const kindOnce = h("input", {
    type: "radio",
    name: "schedule-kind",
    value: "once",
    checked: !recurringNow,
  });
  const kindRepeats = h("input", {
    type: "radio",
    name: "schedule-kind",
    value: "repeats",
    checked: recurringNow,
  });
  const showKind = () => {
    once.hidden = kindRepeats.checked;
    repeats.hidden = !kindRepeats.checked;
  };
  kindOnce.addEventListener("change", showKind);
  kindRepeats.addEventListener("change", showKind);
  showKind();

  return {
    fields: [
      field("Name", name, window ? null : "Leave empty to use the id."),
      field("Description", description),
      enabled.element,
      monitorsPick.element,
      tagsPick.element,
      h(
        "fieldset",
        { class: "schedule" },
        h("legend", null, "Schedule"),
        h(
          "div",
          { class: "radio-row" },
          h("label", null, kindOnce, " Once"),
          h("label", null, kindRepeats, " Recurring"),
        ),
        once,
        repeats,
        field("Time zone", timezone, "Times above are read in this zone, e.g. Europe/Istanbul."),
        zones,
      ),
    ],
    focus: name,
    read() {
      const body = {
        name: optional(name.value),
        description: description.value,
        enabled: enabled.input.checked,
        monitors: monitorsPick.value(),
        tags: tagsPick.value(),
        timezone: timezone.value.trim(),
      };
      if (kindRepeats.checked) {
        body.cron = optional(cron.value);
        body.duration = optional(duration.value);
      } else {
        body.start = optional(start.value);
        body.end = optional(end.value);
      }
      return body;
    },
  };
}
