// The overview's list of monitors, virtualised: only the rows in view (and a
// few either side) exist in the page, placed over a spacer as tall as the
// whole list, so ten thousand monitors scroll like twenty.
//
// The list follows the window's scroll, so a phone scrolls one page, not a
// box inside it. It is one tab stop, a listbox: the arrow keys move the
// highlighted row, Enter opens it.

import { formatAgo, formatMs, h, stateBadge } from "../dom.js";

const OVERSCAN = 8;
const BAR_CELLS = 30;
const CELL_PX = 4;
const BAR_LABELS = {
  u: "up",
  d: "down",
  g: "degraded",
  p: "pending",
  m: "maintenance",
  "?": "other",
};
const BAR_COLOURS = {
  u: "var(--up)",
  d: "var(--down)",
  g: "var(--degraded)",
  p: "var(--pending)",
  m: "var(--maintenance)",
  "?": "var(--unknown)",
};
const BAR_CACHE_LIMIT = 4000;

const barCache = new Map();

/** The background and text alternative of a bar of recent checks, cached:
 * most monitors share a handful of histories ("all up"). */
function recentBar(recent) {
  const letters = (recent || "").slice(-BAR_CELLS);
  let bar = barCache.get(letters);
  if (bar) return bar;

  // Runs of one letter make one stop each; the stylesheet cuts them into cells.
  const empty = BAR_CELLS - letters.length;
  const stops = [`var(--bar-empty) 0 ${empty * CELL_PX}px`];
  const tally = {};
  let start = 0;
  for (let at = 1; at <= letters.length; at++) {
    const letter = letters[at - 1];
    tally[letter] = (tally[letter] || 0) + 1;
    if (at === letters.length || letters[at] !== letter) {
      const colour = BAR_COLOURS[letter] || BAR_COLOURS["?"];
      stops.push(`${colour} ${(empty + start) * CELL_PX}px ${(empty + at) * CELL_PX}px`);
      start = at;
    }
  }
  const parts = Object.entries(tally)
    .sort((a, b) => b[1] - a[1])
    .map(([letter, count]) => `${count} ${BAR_LABELS[letter] || "other"}`);
  bar = {
    background: `linear-gradient(to right, ${stops.join(", ")})`,
    label: letters.length ? `last ${letters.length} checks: ${parts.join(", ")}` : "no checks yet",
  };
  if (barCache.size >= BAR_CACHE_LIMIT) barCache.clear();
  barCache.set(letters, bar);
  return bar;
}

/** One row element, reused for whichever monitor comes into view. */
class RowView {
  constructor(listId) {
    this.listId = listId;
    this.row = null;
    this.index = -1;
    this.rowHeight = 0;
    this.total = -1;
    this.active = false;
    this.state = null;
    this.recent = null;
    this.ago = "";
    this.badge = stateBadge("unknown");
    this.link = h("a", { class: "ov-name", tabindex: "-1" });
    this.type = h("span", { class: "ov-type" });
    this.tags = h("span", { class: "ov-tags" });
    this.latency = h("span", { class: "ov-latency" });
    this.checked = h("span", { class: "ov-checked" });
    this.bar = h("span", { class: "ov-bar", role: "img" });
    this.element = h(
      "div",
      { class: "ov-row", role: "option", "aria-selected": "false" },
      this.badge,
      this.link,
      this.type,
      this.tags,
      this.latency,
      this.checked,
      this.bar,
    );
  }

  /** Show this monitor; only what differs from what is shown is written. */
  show(row, now) {
    const element = this.element;
    if (this.row !== row || element.dataset.monitorId !== row.id) {
      this.row = row;
      element.dataset.monitorId = row.id;
      this.link.href = `#/monitors/${encodeURIComponent(row.id)}`;
      this.link.textContent = row.name;
      this.type.textContent = row.type || "";
      const tags = row.tags.join(", ");
      this.tags.textContent = tags;
      this.tags.title = tags;
    }
    if (this.state !== row.state) {
      this.state = row.state;
      element.dataset.state = row.state;
      const badge = stateBadge(row.state);
      this.badge.replaceWith(badge);
      this.badge = badge;
    }
    this.latency.textContent = formatMs(row.latency_ms);
    this.showAgo(now);
    if (this.recent !== row.recent) {
      this.recent = row.recent;
      const bar = recentBar(row.recent);
      this.bar.style.setProperty("--cells", bar.background);
      this.bar.setAttribute("aria-label", bar.label);
    }
  }

  showAgo(now) {
    const ago = formatAgo(this.row.checked_at, now);
    if (ago !== this.ago) {
      this.ago = ago;
      this.checked.textContent = ago;
    }
  }

  place(index, rowHeight, total) {
    if (this.index !== index || this.rowHeight !== rowHeight) {
      this.index = index;
      this.rowHeight = rowHeight;
      this.element.style.transform = `translateY(${index * rowHeight}px)`;
      this.element.id = `${this.listId}-${index}`;
      this.element.setAttribute("aria-posinset", String(index + 1));
    }
    if (this.total !== total) {
      this.total = total;
      this.element.setAttribute("aria-setsize", String(total));
    }
  }

  highlight(on) {
    if (this.active === on) return;
    this.active = on;
    this.element.classList.toggle("active", on);
    this.element.setAttribute("aria-selected", String(on));
  }
}

let lists = 0;

/**
 * The virtualised list. `onOpen(id)` is called when Enter is pressed on the
 * highlighted row; `onRange(ids)` after each render with the ids in view;
 * `ceiling()` says where, from the window's top, the rows stop being seen
 * (below a sticky bar).
 */
export class MonitorList {
  constructor({ label, onOpen, onRange, ceiling }) {
    this.id = `ov-list-${++lists}`;
    this.onOpen = onOpen;
    this.onRange = onRange;
    this.ceiling = ceiling || (() => 0);
    this.items = [];
    this.positions = new Map();
    this.shown = new Map();
    this.spare = [];
    this.rowHeight = 0;
    this.activeId = null;
    this.visible = [];
    this.pending = false;
    this.element = h("div", {
      class: "ov-list",
      id: this.id,
      role: "listbox",
      tabindex: "0",
      "aria-label": label,
      onkeydown: (event) => this.key(event),
      onfocus: () => this.focused(),
      onclick: (event) => this.clicked(event),
    });
  }

  /** Show these rows (in this order); rows on screen are written again. */
  setItems(items) {
    this.items = items;
    this.positions = new Map();
    for (let at = 0; at < items.length; at++) this.positions.set(items[at].id, at);
    if (this.activeId !== null && !this.positions.has(this.activeId)) {
      this.activeId = null;
      this.element.removeAttribute("aria-activedescendant");
    }
    for (const view of this.shown.values()) view.row = null;
    this.measure();
    this.render();
  }

  /** Read the row height from the stylesheet (it changes on narrow screens). */
  measure() {
    const height = parseFloat(getComputedStyle(this.element).getPropertyValue("--row-h"));
    this.rowHeight = height > 0 ? height : 44;
    this.element.style.height = `${this.items.length * this.rowHeight}px`;
  }

  /** Render on the next frame; many calls in one frame render once. */
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  /** The range of rows in view, with the margin either side. */
  range() {
    const rowHeight = this.rowHeight;
    const top = this.element.getBoundingClientRect().top;
    const viewTop = Math.max(0, -top);
    const viewBottom = Math.max(0, window.innerHeight - top);
    const first = Math.max(0, Math.floor(viewTop / rowHeight) - OVERSCAN);
    const last = Math.min(this.items.length, Math.ceil(viewBottom / rowHeight) + OVERSCAN);
    return [first, Math.max(first, last), viewTop];
  }

  /**
   * Taking focus scrolls a browser to show the focused element, and the list
   * is far taller than the screen: its scroll margins shrink it, for that
   * purpose, to its first row in view, so tabbing to it does not jump the page.
   */
  keepFocusInView(viewTop) {
    const height = this.items.length * this.rowHeight;
    const top = Math.min(viewTop, Math.max(0, height - this.rowHeight));
    this.element.style.scrollMarginTop = `${-top}px`;
    this.element.style.scrollMarginBottom = `${Math.min(0, top + this.rowHeight - height)}px`;
  }

  render() {
    const [first, last, viewTop] = this.range();
    this.keepFocusInView(viewTop);
    const items = this.items;
    const now = Date.now() / 1000;

    for (const [id, view] of this.shown) {
      const at = this.positions.get(id);
      if (at === undefined || at < first || at >= last) {
        this.shown.delete(id);
        view.element.remove();
        view.index = -1;
        view.row = null;
        this.spare.push(view);
      }
    }

    const fresh = [];
    for (let at = first; at < last; at++) {
      const row = items[at];
      let view = this.shown.get(row.id);
      if (!view) {
        view = this.spare.pop() || new RowView(this.id);
        this.shown.set(row.id, view);
        fresh.push(view);
      }
      if (view.row !== row) view.show(row, now);
      view.place(at, this.rowHeight, items.length);
      view.highlight(row.id === this.activeId);
    }
    if (fresh.length) this.element.append(...fresh.map((view) => view.element));

    const active = this.activeId === null ? null : this.shown.get(this.activeId);
    if (active) this.element.setAttribute("aria-activedescendant", active.element.id);
    else this.element.removeAttribute("aria-activedescendant");

    this.visible = items.slice(first, last).map((row) => row.id);
    this.onRange?.(this.visible);
  }

  /** Write again the rows on screen whose monitors changed. */
  update(ids) {
    const now = Date.now() / 1000;
    for (const id of ids) {
      const view = this.shown.get(id);
      if (view && view.row) view.show(view.row, now);
    }
  }

  /** Bring "5 s ago" up to date on the rows on screen. */
  tick() {
    const now = Date.now() / 1000;
    for (const view of this.shown.values()) if (view.row) view.showAgo(now);
  }

  // -- the keyboard --------------------------------------------------------

  focused() {
    if (this.activeId !== null || !this.items.length) return;
    const [first] = this.range();
    const top = Math.min(this.items.length - 1, first + (first > 0 ? OVERSCAN : 0));
    this.highlightAt(top, false);
  }

  clicked(event) {
    const element = event.target.closest(".ov-row");
    if (!element) return;
    const at = this.positions.get(element.dataset.monitorId);
    if (at !== undefined) this.highlightAt(at, false);
  }

  key(event) {
    if (!this.items.length) return;
    const current = this.activeId === null ? -1 : this.positions.get(this.activeId);
    const page = Math.max(1, Math.floor(window.innerHeight / this.rowHeight) - 2);
    const moves = {
      ArrowDown: current + 1,
      ArrowUp: current - 1,
      PageDown: current + page,
      PageUp: current - page,
      Home: 0,
      End: this.items.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      this.highlightAt(Math.max(0, Math.min(this.items.length - 1, moves[event.key])), true);
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();
      this.onOpen?.(this.activeId);
    }
  }

  highlightAt(index, reveal) {
    this.activeId = this.items[index].id;
    if (reveal) this.reveal(index);
    this.render();
  }

  /** Scroll the window just enough to show row `index` below what sticks at the top. */
  reveal(index) {
    const rowTop = this.element.getBoundingClientRect().top + index * this.rowHeight;
    const ceiling = this.ceiling();
    if (rowTop < ceiling) window.scrollBy(0, rowTop - ceiling);
    else if (rowTop + this.rowHeight > window.innerHeight) {
      window.scrollBy(0, rowTop + this.rowHeight - window.innerHeight);
    }
  }
}
