// The overview: every monitor at a glance, counted by state, filtered and
// searched in the browser, in a list that only renders what is on screen,
// with widgets above it that each user arranges.
//
// The filters live in the hash query (#/?q=api&state=down&tag=db) so a
// filtered view is a link to share.

import { ApiError, Offline, request } from "../api.js";
import { STATES, fill, formatAgo, h, toast, useStyles } from "../dom.js";
import { live } from "../live.js";
import { preferences } from "../prefs.js";
import { monitors } from "../store.js";
import { MonitorList } from "../widgets/monitor-list.js";

const WATCH_DELAY_MS = 150;
const QUERY_DELAY_MS = 300;
const STATE_DELAY_MS = 250;
const TICK_MS = 5000;
const SKELETON_ROWS = 8;
const SEVERITY = ["down", "degraded", "pending", "unknown", "up", "maintenance", "paused"];
const SORTS = { name: "Name", state: "State, then name" };

// Asked for as soon as the page's code arrives, not when it first mounts.
const styles = useStyles("overview");

/** The filters a hash query names; states may be "down,degraded" or repeated. */
function readFilters(query) {
  const states = query
    .getAll("state")
    .flatMap((value) => value.split(","))
    .map((value) => value.trim())
    .filter(Boolean);
  return {
    q: query.get("q") || "",
    states: new Set(states),
    tag: query.get("tag") || "",
    sort: query.get("sort") === "state" ? "state" : "name",
  };
}

/** The filters as a hash query; commas and colons stay readable (tag=team:ops). */
function filtersQuery(filters) {
  const pairs = [];
  if (filters.q) pairs.push(["q", filters.q]);
  if (filters.states.size) pairs.push(["state", [...filters.states].join(",")]);
  if (filters.tag) pairs.push(["tag", filters.tag]);
  if (filters.sort !== "name") pairs.push(["sort", filters.sort]);
  return pairs
    .map(
      ([key, value]) =>
        `${key}=${encodeURIComponent(value).replace(/%2C|%3A/g, decodeURIComponent)}`,
    )
    .join("&");
}

/** The rows that pass the filters, in the chosen order. */
function matching(filters) {
  const terms = filters.q.toLowerCase().split(/\s+/).filter(Boolean);
  const { states, tag } = filters;
  const found = [];
  for (const row of monitors.sorted) {
    if (states.size && !states.has(row.state)) continue;
    if (tag && !row.tags.includes(tag)) continue;
    if (terms.length && !terms.every((term) => row.search.includes(term))) continue;
    found.push(row);
  }
  if (filters.sort !== "state") return found;

  // Rows come sorted by name: grouping them by state in one pass keeps that order.
  const groups = new Map(SEVERITY.map((state) => [state, []]));
  const others = [];
  for (const row of found) (groups.get(row.state) || others).push(row);
  return [...groups.values(), others].flat();
}

async function download(button) {
  button.disabled = true;
  try {
    const response = await request("GET", "/monitors/export", {
      query: { format: "yaml" },
      raw: true,
    });
    const blob = await response.blob();
    const named = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: named ? named[1] : "monitors.yaml" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    toast(`Export failed: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

export async function mount(root, params, context) {
  await styles;
  const filters = readFilters(context.query);
  const timers = new Set();
  let watchTimer = null;
  let queryTimer = null;
  let seenState = new Map();
  let tagKey = null;
  let board = null;
  let failed = null;
  let gone = false;
  let tagTimer = null;
  let stateTimer = null;

  // -- the page's parts --------------------------------------------------------

  const editWidgets = h(
    "button",
    { type: "button", class: "ov-edit-widgets", disabled: true },
    "Edit widgets",
  );
  const exportButton = h(
    "button",
    { type: "button", onclick: () => download(exportButton) },
    "Export",
  );
  const head = h(
    "div",
    { class: "page-head" },
    h("h1", null, "Overview"),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button primary", href: "#/monitors/new" }, "New monitor"),
      h("a", { class: "button", href: "#/import" }, "Import"),
      exportButton,
      editWidgets,
    ),
  );
  const notice = h("div", { class: "ov-notice", role: "status" });
  notice.hidden = true;

  const allChip = h(
    "button",
    { type: "button", class: "ov-chip", dataset: { chip: "all" }, onclick: () => setStates([]) },
    "",
  );
  const chips = new Map();
  const chipBar = h(
    "div",
    { class: "ov-chips", role: "group", "aria-label": "Filter by state" },
    allChip,
  );

  const search = h("input", {
    type: "search",
    name: "q",
    id: "ov-search",
    value: filters.q,
    placeholder: "Name, id or tag",
    autocomplete: "off",
    spellcheck: "false",
    oninput: () => {
      filters.q = search.value;
      refilter();
      rememberQuery();
    },
  });
  const tagSelect = h("select", {
    name: "tag",
    id: "ov-tag",
    onchange: () => {
      filters.tag = tagSelect.value;
      refilter();
      rememberQuery(0);
    },
  });
  const sortSelect = h(
    "select",
    {
      name: "sort",
      id: "ov-sort",
      onchange: () => {
        filters.sort = sortSelect.value;
        refilter();
        rememberQuery(0);
      },
    },
    Object.entries(SORTS).map(([value, label]) =>
      h("option", { value, selected: value === filters.sort }, label),
    ),
  );
  const showing = h("p", { class: "ov-showing", role: "status", "aria-live": "polite" });
  const controls = h(
    "div",
    { class: "ov-controls" },
    h("div", { class: "ov-control ov-search" }, h("label", { for: "ov-search" }, "Search"), search),
    h("div", { class: "ov-control" }, h("label", { for: "ov-tag" }, "Tag"), tagSelect),
    h("div", { class: "ov-control" }, h("label", { for: "ov-sort" }, "Sort"), sortSelect),
    showing,
  );

  const list = new MonitorList({
    label: "Monitors",
    onOpen: (id) => context.navigate(`/monitors/${encodeURIComponent(id)}`),
    onRange: (ids) => watchSoon(ids),
    ceiling: () => {
      const bar = document.getElementById("topbar");
      const top = bar && !bar.hidden ? bar.getBoundingClientRect().bottom : 0;
      return columns.hidden ? top : Math.max(top, columns.getBoundingClientRect().bottom);
    },
  });
  const columns = h(
    "div",
    { class: "ov-columns", "aria-hidden": "true" },
    ["State", "Name", "Type", "Tags", "Latency", "Checked", "Recent checks"].map((name) =>
      h("span", null, name),
    ),
  );
  const empty = h("div", { class: "ov-empty" });
  empty.hidden = true;
  const listArea = h("div", { class: "ov-list-area" }, columns, list.element, empty);

  // The widgets come after the list: their slot keeps their room meanwhile.
  const widgetSlot = h("div", { class: "ov-widget-slot" });
  const saved = preferences().overview_widgets;
  if (!Array.isArray(saved) || saved.length) widgetSlot.classList.add("ov-widget-slot-waiting");
  fill(root, head, notice, widgetSlot, chipBar, controls, listArea);

  // -- filtering ------------------------------------------------------------------

  function setStates(states) {
    filters.states = new Set(states);
    showCounts();
    refilter();
    rememberQuery(0);
  }

  function toggleState(state) {
    const states = new Set(filters.states);
    if (states.has(state)) states.delete(state);
    else states.add(state);
    setStates(states);
  }

  function refilter() {
    if (!monitors.loaded) return;
    const items = matching(filters);
    list.setItems(items);
    const total = monitors.sorted.length;
    showing.textContent =
      items.length === total ? `${total} monitors` : `Showing ${items.length} of ${total}`;
    showEmpty(items.length, total);
  }

  function showEmpty(shown, total) {
    const nothing = shown === 0;
    chipBar.hidden = total === 0;
    controls.hidden = total === 0;
    empty.hidden = !nothing;
    list.element.hidden = nothing;
    columns.hidden = nothing;
    if (!nothing) return;
    if (total === 0) {
      fill(
        empty,
        h("h2", null, "No monitors yet"),
        h("p", null, "Add your first monitor, or import a file of them."),
        h(
          "p",
          { class: "actions" },
          h("a", { class: "button primary", href: "#/monitors/new" }, "New monitor"),
          h("a", { class: "button", href: "#/import" }, "Import"),
        ),
      );
    } else {
      fill(
        empty,
        h("h2", null, "No monitor matches"),
        h("p", { class: "muted" }, "Nothing passes the search and filters chosen."),
        h("button", { type: "button", onclick: clearFilters }, "Clear filters"),
      );
    }
  }

  function clearFilters() {
    filters.q = "";
    filters.tag = "";
    filters.states = new Set();
    search.value = "";
    tagSelect.value = "";
    showCounts();
    refilter();
    rememberQuery(0);
    search.focus();
  }

  /** Put the filters in the address, without a new history entry or a remount. */
  function rememberQuery(delay = QUERY_DELAY_MS) {
    clearTimeout(queryTimer);
    queryTimer = setTimeout(() => {
      const query = filtersQuery(filters);
      const hash = query ? `#/?${query}` : "#/";
      if (location.hash !== hash && /^#\/?(\?|$)/.test(location.hash || "#/")) {
        history.replaceState(history.state, "", hash);
      }
    }, delay);
  }

  // -- counts and tags --------------------------------------------------------------

  function showCounts() {
    chipBar.classList.toggle("ov-waiting", !monitors.loaded);
    const counts = monitors.counts();
    const total = monitors.sorted.length;
    const states = [...STATES, ...Object.keys(counts).filter((state) => !STATES.includes(state))];
    allChip.textContent = "";
    allChip.append("all ", h("span", { class: "ov-count" }, String(total)));
    allChip.setAttribute("aria-pressed", String(filters.states.size === 0));
    for (const state of states) {
      const count = counts[state] || 0;
      let chip = chips.get(state);
      if (!chip) {
        if (!count && !filters.states.has(state)) continue;
        chip = h("button", {
          type: "button",
          class: `ov-chip ov-chip-${STATES.includes(state) ? state : "unknown"}`,
          dataset: { chip: state },
          onclick: () => toggleState(state),
        });
        chips.set(state, chip);
        const after = [...chips.keys()].sort((a, b) => states.indexOf(a) - states.indexOf(b));
        const next = after[after.indexOf(state) + 1];
        chipBar.insertBefore(chip, next ? chips.get(next) : null);
      }
      chip.hidden = !count && !filters.states.has(state);
      chip.replaceChildren(
        h("span", { class: "ov-dot", "aria-hidden": "true" }),
        `${state} `,
        h("span", { class: "ov-count" }, String(count)),
      );
      chip.setAttribute("aria-pressed", String(filters.states.has(state)));
    }
  }

  function showTags() {
    const counted = new Map();
    for (const row of monitors.sorted) {
      for (const tag of row.tags) counted.set(tag, (counted.get(tag) || 0) + 1);
    }
    if (filters.tag && !counted.has(filters.tag)) counted.set(filters.tag, 0);
    const tags = [...counted.keys()].sort((a, b) => a.localeCompare(b));
    const key = tags.map((tag) => `${tag}:${counted.get(tag)}`).join("\n");
    if (key === tagKey) return;
    tagKey = key;
    fill(
      tagSelect,
      h("option", { value: "" }, "Any tag"),
      tags.map((tag) =>
        h("option", { value: tag, selected: tag === filters.tag }, `${tag} (${counted.get(tag)})`),
      ),
    );
    tagSelect.value = filters.tag;
  }

  // -- following the store ----------------------------------------------------------

  function everything() {
    failed = null;
    seenState = new Map();
    for (const row of monitors.sorted) seenState.set(row.id, row.state);
    showStatus();
    showCounts();
    refilter();
    // The tag menu is not needed for the first paint.
    clearTimeout(tagTimer);
    tagTimer = setTimeout(showTags, 0);
  }

  function changed(ids) {
    if (ids === null) {
      everything();
      board?.changed(true);
      return;
    }
    let moved = false;
    for (const id of ids) {
      const row = monitors.rows.get(id);
      if (row && seenState.get(id) !== row.state) {
        seenState.set(id, row.state);
        moved = true;
      }
    }
    if (moved) statesMoved();
    list.update(ids);
    board?.changed();
  }

  // Counting and filtering again cost a pass over every monitor: during a
  // burst of state changes they run a few times a second, not every frame.
  function statesMoved() {
    if (stateTimer !== null) return;
    stateTimer = setTimeout(() => {
      stateTimer = null;
      showCounts();
      // A state change can move a row into or out of the filter, or in the order.
      if (filters.states.size || filters.sort === "state") refilter();
    }, STATE_DELAY_MS);
  }

  function showStatus() {
    list.element.removeAttribute("aria-busy");
    listArea.hidden = Boolean(failed);
    if (failed) {
      notice.hidden = false;
      notice.className = "ov-notice problem";
      fill(
        notice,
        failed instanceof Offline
          ? "The gateway cannot be reached, and no copy of the monitors is kept here. "
          : `The monitors could not be loaded: ${failed.message} `,
        h("button", { type: "button", class: "link-button", onclick: retry }, "Try again"),
      );
      return;
    }
    notice.hidden = !monitors.stale;
    notice.className = "ov-notice";
    if (monitors.stale) {
      fill(
        notice,
        `The gateway cannot be reached: showing the monitors as they were ${
          monitors.at ? formatAgo(monitors.at) : "last seen"
        }. `,
        h("button", { type: "button", class: "link-button", onclick: retry }, "Try again"),
      );
    }
  }

  function retry() {
    failed = null;
    notice.hidden = true;
    load();
  }

  function skeleton() {
    list.element.setAttribute("aria-busy", "true");
    showing.textContent = "Loading monitors…";
    fill(
      empty,
      Array.from({ length: SKELETON_ROWS }, () => h("div", { class: "ov-skeleton-row" })),
    );
    empty.hidden = false;
    empty.classList.add("ov-skeleton");
    list.element.hidden = true;
  }

  function load() {
    if (!monitors.loaded) skeleton();
    monitors.load().then(
      () => {
        if (monitors.loaded) empty.classList.remove("ov-skeleton");
        showStatus();
      },
      (error) => {
        if (monitors.loaded) {
          showStatus();
          return;
        }
        failed =
          error instanceof ApiError || error instanceof Offline ? error : new Error(String(error));
        empty.classList.remove("ov-skeleton");
        fill(empty);
        empty.hidden = true;
        showing.textContent = "";
        showStatus();
      },
    );
  }

  // -- live rooms for what is on screen ----------------------------------------------

  // live.watch sends only what differs from the rooms already joined.
  function watchSoon(ids) {
    clearTimeout(watchTimer);
    watchTimer = setTimeout(() => live.watch(ids, "overview"), WATCH_DELAY_MS);
  }

  // -- start ---------------------------------------------------------------------------

  const unsubscribe = monitors.subscribe(changed);
  const onScroll = () => list.schedule();
  const onResize = () => {
    list.measure();
    list.schedule();
  };
  const onKey = (event) => {
    const typing = event.target.closest?.("input, select, textarea, [contenteditable]");
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      search.focus();
    }
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", onResize);
  document.addEventListener("keydown", onKey);
  const resized = new ResizeObserver(() => list.schedule());
  resized.observe(widgetSlot);
  timers.add(
    setInterval(() => {
      list.tick();
      // Another page leaving late may have emptied the rooms: ask again.
      live.watch(list.visible, "overview");
    }, TICK_MS),
  );

  if (monitors.loaded) everything();
  else {
    showCounts();
    load();
  }

  // Widgets wait for the list's first paint.
  requestAnimationFrame(() => {
    timers.add(setTimeout(startWidgets, 0));
  });

  async function startWidgets() {
    const { WidgetBoard } = await import("../widgets/board.js");
    if (gone) return;
    board = new WidgetBoard({
      monitors,
      live,
      editButton: editWidgets,
      filterStates: (states) => {
        setStates(states);
        listArea.scrollIntoView({ block: "start" });
      },
    });
    fill(widgetSlot, board.element);
    widgetSlot.classList.remove("ov-widget-slot-waiting");
    board.start();
  }

  return () => {
    gone = true;
    unsubscribe();
    window.removeEventListener("scroll", onScroll);
    window.removeEventListener("resize", onResize);
    document.removeEventListener("keydown", onKey);
    resized.disconnect();
    for (const timer of timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    clearTimeout(watchTimer);
    clearTimeout(queryTimer);
    clearTimeout(tagTimer);
    clearTimeout(stateTimer);
    board?.destroy();
    live.watch([], "overview");
  };
}
