// Building the page: elements from plain calls, and the formats every view shares.

/**
 * An element: h("a", {href: "#/", class: "x", onclick: fn}, "text", child).
 * Props starting with "on" become listeners, "class" sets className,
 * "dataset" and "style" take objects, false/null props are left out.
 * Children may be strings, numbers, nodes, arrays or null.
 */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === "class") {
        node.className = value;
      } else if (key === "dataset" || key === "style") {
        Object.assign(node[key], value);
      } else if (key === "value" || key === "checked" || key === "selected") {
        node[key] = value;
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything inside node with the given children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A short message in the corner: kind is "info", "ok" or "error". */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export const STATES = [
  "down",
  "degraded",
  "pending",
  "up",
  "maintenance",
  "paused",
  "unknown",
];

/** A state as a small coloured label. */
export function stateBadge(state) {
  const known = STATES.includes(state) ? state : "unknown";
  return h("span", { class: `state state-${known}` }, known);
}

/** Milliseconds as people read them: 42 ms, 1.3 s. */
export function formatMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** A ratio as a percentage with enough digits to tell 99.9 from 99.99. */
export function formatRatio(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  const percent = ratio * 100;
  if (percent === 100) return "100%";
  return `${percent.toFixed(percent >= 99 ? 3 : 2)}%`;
}

/**
 * Seconds as the API writes durations, shortest first: 90 -> "1m30s",
 * 86400 -> "1d", 0.25 -> "250ms". Text is shown as it is.
 */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || seconds === "") return "";
  if (typeof seconds !== "number") return String(seconds);
  if (seconds > 0 && seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (!Number.isInteger(seconds)) return `${seconds}s`;
  let left = seconds;
  let text = "";
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ]) {
    const count = Math.floor(left / size);
    left -= count * size;
    if (count) text += `${count}${unit}`;
  }
  return text || "0s";
}

/** Seconds from a duration as the API reads it ("30d", "1h30m", "90"); null if unreadable. */
export function parseDuration(text) {
  const value = String(text).trim().replace(/\s+/g, "");
  if (value === "") return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  let rest = value;
  while (rest) {
    const found = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!found) return null;
    total += Number(found[1]) * units[found[2]];
    rest = rest.slice(found[0].length);
  }
  return total;
}

/** Unix seconds as a local date and time. */
export function formatTime(seconds) {
  if (!seconds) return "–";
  return new Date(seconds * 1000).toLocaleString();
}

/** Unix seconds as "5 s ago", "3 min ago", "2 h ago", or a date. */
export function formatAgo(seconds, now = Date.now() / 1000) {
  if (!seconds) return "never";
  const gap = Math.max(0, now - seconds);
  if (gap < 60) return `${Math.floor(gap)} s ago`;
  if (gap < 3600) return `${Math.floor(gap / 60)} min ago`;
  if (gap < 86400) return `${Math.floor(gap / 3600)} h ago`;
  return new Date(seconds * 1000).toLocaleDateString();
}

/** A form field with its label and a place for the API's message about it. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const problem = h("p", {
    class: "field-problem",
    id: `${id}-problem`,
    role: "alert",
    hidden: true,
  });
  input.setAttribute("aria-describedby", `${id}-problem`);
  return h(
    "div",
    { class: "field", dataset: { field: input.name || "" } },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "field-hint" }, hint) : null,
    problem,
  );
}

/**
 * Show an ApiError's field problems next to the form's fields.
 * A field named "targets[0].url" is shown at the input named "targets[0].url",
 * else at the nearest named parent ("targets"), else in the form's summary.
 * Returns the problems no field took.
 */
export function showFieldProblems(form, error) {
  for (const node of form.querySelectorAll(".field-problem")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
  }
  const unplaced = [];
  for (const { field: name, problem } of error.fields || []) {
    const holder = fieldHolder(form, name);
    if (!holder) {
      unplaced.push(`${name}: ${problem}`);
      continue;
    }
    const message = holder.querySelector(".field-problem");
    message.hidden = false;
    message.textContent = message.textContent
      ? `${message.textContent}; ${problem}`
      : problem;
    holder.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
  }
  const summary = form.querySelector(".form-problems");
  if (summary) {
    summary.hidden = unplaced.length === 0 && (error.fields || []).length > 0;
    fill(
      summary,
      (error.fields || []).length ? null : error.message,
      unplaced.length ? h("ul", null, unplaced.map((text) => h("li", null, text))) : null,
    );
  }
  return unplaced;
}

function fieldHolder(form, name) {
  let path = name;
  while (path) {
    const holder = form.querySelector(`.field[data-field="${CSS.escape(path)}"]`);
    if (holder) return holder;
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    if (cut <= 0) break;
    path = path.slice(0, cut);
  }
  return null;
}

/** Run fn at most once per animation frame, with the latest arguments. */
export function perFrame(fn) {
  let pending = null;
  return (...args) => {
    if (pending === null) {
      requestAnimationFrame(() => {
        const latest = pending;
        pending = null;
        fn(...latest);
      });
    }
    pending = args;
  };
}

const loadedStyles = new Map();

/**
 * Load a page's own stylesheet (css/NAME.css) once; resolves when it applies,
 * so a page can wait for it before its first paint.
 */
export function useStyles(name) {
  const href = `/ui/css/${name}.css`;
  if (!loadedStyles.has(name) && document.querySelector(`link[href="${href}"]`)) {
    // The page's own <head> already links it.
    loadedStyles.set(name, Promise.resolve());
  }
  if (!loadedStyles.has(name)) {
    const link = h("link", { rel: "stylesheet", href });
    loadedStyles.set(
      name,
      new Promise((resolve) => {
        link.addEventListener("load", resolve);
        link.addEventListener("error", resolve);
      }),
    );
    document.head.append(link);
  }
  return loadedStyles.get(name);
}
