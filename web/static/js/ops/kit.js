// Small pieces the incident, event and alert settings pages share: durations,
// times in a time zone, choosers for monitors, tags and channels, copying.

import { h } from "../dom.js";
import { monitors } from "../store.js";

export { formatDuration } from "../dom.js";

/** How long something lasted, in words people read: "3 min", "2 h 5 min". */
export function formatSpan(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "–";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A monitor's name as the dashboard knows it, else its id. */
export function monitorName(id) {
  return monitors.rows.get(id)?.name || id || "–";
}

const MONITORS_WAIT_MS = 3000;

/**
 * Resolves once the monitors' names are known, or after a short wait: a page
 * that names monitors shows ids rather than wait long for a slow snapshot.
 */
export function monitorsReady() {
  if (monitors.loaded) return Promise.resolve();
  return Promise.race([
    monitors.load().catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, MONITORS_WAIT_MS)),
  ]);
}

/** The signed-in user may change things (anyone but a viewer). */
export function canChange(user) {
  return Boolean(user) && user.role !== "viewer";
}

// -- times in a time zone ----------------------------------------------------

const zoneFormats = new Map();

function zoneFormat(zone) {
  if (!zoneFormats.has(zone)) {
    zoneFormats.set(
      zone,
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
      }),
    );
  }
  return zoneFormats.get(zone);
}

/**
 * Unix seconds as the value of a datetime-local input showing the wall
 * clock of a time zone ("2026-12-05T02:00"); the browser's own zone when
 * the zone is unknown.
 */
export function zonedInputValue(seconds, zone) {
  if (seconds === null || seconds === undefined) return "";
  let parts;
  try {
    parts = zoneFormat(zone || "UTC").formatToParts(new Date(seconds * 1000));
  } catch {
    parts = zoneFormat(Intl.DateTimeFormat().resolvedOptions().timeZone).formatToParts(
      new Date(seconds * 1000),
    );
  }
  const part = Object.fromEntries(parts.map(({ type, value }) => [type, value]));
  return `${part.year}-${part.month}-${part.day}T${part.hour}:${part.minute}`;
}

/** Unix seconds as a date and time in a time zone, with the zone named. */
export function formatInZone(seconds, zone) {
  try {
    return new Date(seconds * 1000).toLocaleString(undefined, {
      timeZone: zone || undefined,
      dateStyle: "medium",
      timeStyle: "short",
    });
  } catch {
    return new Date(seconds * 1000).toLocaleString();
  }
}

/** Every time zone name the browser knows, for a datalist. */
export function timeZones() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
}

// -- choosers ------------------------------------------------------------------

let chooserCount = 0;
const SHOWN_OPTIONS = 8;

/**
 * Pick several values from many: a search box that suggests, and the
 * chosen ones as removable chips. The search box carries `name`, so the
 * API's problems with that field (or `name[3]`) are shown at it.
 *
 * options(text) answers the suggestions for the typed text, each
 * {value, label, hint}; labelOf(value) names a chosen value; with free,
 * typed text that matches nothing may be added as it is (tags).
 * Returns {element, value()}: value() answers the chosen values in order.
 */
export function chooser({ name, label, values = [], options, labelOf, free = false, hint }) {
  const id = `chooser-${++chooserCount}`;
  let chosen = [...values];
  let shown = [];
  let active = -1;

  const chips = h("ul", { class: "chips", "aria-label": `${label}: chosen` });
  const list = h("ul", {
    class: "chooser-options",
    id: `${id}-options`,
    role: "listbox",
    hidden: true,
  });
  const input = h("input", {
    id,
    name,
    type: "search",
    autocomplete: "off",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": `${id}-options`,
    placeholder: free ? "Type to search or add" : "Type to search",
  });
  const problem = h("p", {
    class: "field-problem",
    id: `${id}-problem`,
    role: "alert",
    hidden: true,
  });
  input.setAttribute("aria-describedby", `${id}-problem`);

  function renderChips() {
    chips.replaceChildren(
      ...chosen.map((value) =>
        h(
          "li",
          { class: "chip", dataset: { value } },
          h("span", null, labelOf ? labelOf(value) : value),
          h(
            "button",
            {
              type: "button",
              class: "chip-remove",
              "aria-label": `Remove ${labelOf ? labelOf(value) : value}`,
              onclick: () => {
                chosen = chosen.filter((item) => item !== value);
                renderChips();
                input.focus();
              },
            },
            "×",
          ),
        ),
      ),
    );
    chips.hidden = chosen.length === 0;
  }

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function suggest() {
    const text = input.value.trim().toLowerCase();
    shown = options(text)
      .filter((option) => !chosen.includes(option.value))
      .slice(0, SHOWN_OPTIONS);
    if (free && text && !shown.some((option) => option.value.toLowerCase() === text)) {
      shown.push({ value: input.value.trim(), label: `Add “${input.value.trim()}”` });
    }
    active = shown.length ? 0 : -1;
    list.replaceChildren(
      ...shown.map((option, at) =>
        h(
          "li",
          {
            id: `${id}-option-${at}`,
            role: "option",
            class: "chooser-option",
            "aria-selected": String(at === active),
            onmousedown: (event) => {
              event.preventDefault();
              pick(at);
            },
          },
          h("span", null, option.label),
          option.hint ? h("span", { class: "muted small" }, option.hint) : null,
        ),
      ),
    );
    list.hidden = shown.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    highlight();
  }

  function highlight() {
    for (const [at, item] of [...list.children].entries()) {
      item.setAttribute("aria-selected", String(at === active));
    }
    if (active >= 0) input.setAttribute("aria-activedescendant", `${id}-option-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function pick(at) {
    const option = shown[at];
    if (!option) return;
    if (!chosen.includes(option.value)) chosen.push(option.value);
    input.value = "";
    renderChips();
    close();
  }

  input.addEventListener("input", suggest);
  input.addEventListener("focus", () => input.value && suggest());
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden) {
        suggest();
        return;
      }
      const step = event.key === "ArrowDown" ? 1 : -1;
      if (shown.length) active = (active + step + shown.length) % shown.length;
      highlight();
    } else if (event.key === "Enter") {
      if (!list.hidden && active >= 0) {
        event.preventDefault();
        pick(active);
      }
    } else if (event.key === "Escape" && !list.hidden) {
      event.stopPropagation();
      close();
    } else if (event.key === "Backspace" && !input.value && chosen.length) {
      chosen.pop();
      renderChips();
    }
  });

  renderChips();
  const element = h(
    "div",
    { class: "field chooser", dataset: { field: name } },
    h("label", { for: id }, label),
    chips,
    h("div", { class: "chooser-box" }, input, list),
    hint ? h("p", { class: "field-hint" }, hint) : null,
    problem,
  );
  return { element, value: () => [...chosen] };
}

/** Suggestions of monitors whose name, id or tags hold the text. */
export function monitorOptions(text) {
  const found = [];
  for (const row of monitors.sorted) {
    if (!text || row.search.includes(text)) {
      found.push({ value: row.id, label: row.name, hint: row.id });
      if (found.length >= SHOWN_OPTIONS * 3) break;
    }
  }
  return found;
}

/** Every tag the monitors carry, with how many carry it, most used first. */
export function knownTags() {
  const counts = new Map();
  for (const row of monitors.sorted) {
    for (const tag of row.tags) counts.set(tag, (counts.get(tag) || 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Suggestions of tags holding the text, from the tags monitors carry. */
export function tagOptions(text) {
  return knownTags()
    .filter(([tag]) => !text || tag.toLowerCase().includes(text))
    .map(([tag, count]) => ({
      value: tag,
      label: tag,
      hint: `${count} monitor${count === 1 ? "" : "s"}`,
    }));
}

/** A chooser of monitors, named by their names. */
export function monitorChooser(name, label, values, hint) {
  return chooser({ name, label, values, options: monitorOptions, labelOf: monitorName, hint });
}

/** A chooser of tags, free text allowed. */
export function tagChooser(name, label, values, hint) {
  return chooser({ name, label, values, options: tagOptions, free: true, hint });
}

// -- copying ---------------------------------------------------------------------

/** Copy text to the clipboard; false when the browser would not. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "visually-hidden", readonly: true }, text);
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

/** Move focus among the items of a list with the arrow keys, Home and End. */
export function arrowKeys(container, selector) {
  container.addEventListener("keydown", (event) => {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const items = [...container.querySelectorAll(selector)];
    const at = items.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const next =
      event.key === "Home"
        ? 0
        : event.key === "End"
          ? items.length - 1
          : Math.min(items.length - 1, Math.max(0, at + (event.key === "ArrowDown" ? 1 : -1)));
    items[next]?.focus();
  });
}
