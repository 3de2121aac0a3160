// The row of widgets above the overview's list: which ones, in which order,
// saved per user in preferences (overview_widgets).
//
// "Edit widgets" shows each card's controls: a handle to drag it (pointer
// events, so mouse, pen and touch alike), the arrow keys on that handle,
// buttons to move it earlier or later and to remove it, and a menu to add
// the widgets not shown.

import { h } from "../dom.js";
import { preferences, setPreferences } from "../prefs.js";
import { DEFAULT_WIDGETS, WIDGETS } from "./catalog.js";

const UPDATE_EVERY_MS = 1000;
const TICK_EVERY_MS = 10000;
const EDGE_PX = 48;
const EDGE_STEP_PX = 12;

const BY_ID = new Map(WIDGETS.map((widget) => [widget.id, widget]));

function savedOrder() {
  const saved = preferences().overview_widgets;
  if (!Array.isArray(saved)) return [...DEFAULT_WIDGETS];
  return [...new Set(saved.filter((id) => BY_ID.has(id)))];
}

export class WidgetBoard {
  constructor(context) {
    this.context = context;
    this.order = savedOrder();
    this.cards = new Map();
    this.running = new Map();
    this.filled = false;
    this.editing = false;
    this.drag = null;
    this.updateTimer = null;
    this.ticker = null;

    this.announcer = h("p", { class: "visually-hidden", role: "status" });
    // The page keeps this button in its toolbar from its first paint.
    this.editButton = context.editButton;
    this.editButton.disabled = false;
    this.editButton.setAttribute("aria-controls", "ov-widgets");
    this.editButton.addEventListener("click", () => this.setEditing(!this.editing));
    this.addButton = h(
      "button",
      {
        type: "button",
        "aria-haspopup": "true",
        "aria-expanded": "false",
        onclick: () => this.toggleMenu(),
      },
      "Add widget",
    );
    this.menu = h("ul", { class: "ov-add-menu", role: "menu", hidden: true });
    this.menu.addEventListener("keydown", (event) => this.menuKey(event));
    this.adder = h("div", { class: "ov-adder", hidden: true }, this.addButton, this.menu);
    this.editButton.before(this.adder);
    this.grid = h("ul", { class: "ov-widget-grid" });
    this.element = h(
      "section",
      { class: "ov-widgets", id: "ov-widgets", "aria-label": "Widgets" },
      this.grid,
      h(
        "p",
        { class: "visually-hidden", id: "ov-move-hint" },
        "Drag, or use the arrow keys, to move the widget.",
      ),
      this.announcer,
    );
    this.closeOnOutside = (event) => {
      if (!this.adder.contains(event.target)) this.toggleMenu(false);
    };
    document.addEventListener("pointerdown", this.closeOnOutside);

    for (const id of this.order) this.grid.append(this.card(id));
    this.showEmpty();
  }

  /** Fill the cards; called after the list's first paint. */
  start() {
    this.filled = true;
    for (const id of this.order) this.run(id);
    this.ticker = setInterval(() => this.each("tick"), TICK_EVERY_MS);
  }

  /** The monitors changed: widgets follow at most once a second, or at once
   * when everything changed (a new snapshot). */
  changed(everything = false) {
    if (!this.filled) return;
    if (everything) {
      clearTimeout(this.updateTimer);
      this.updateTimer = null;
      this.update();
      return;
    }
    if (this.updateTimer !== null) return;
    this.updateTimer = setTimeout(() => {
      this.updateTimer = null;
      this.update();
    }, UPDATE_EVERY_MS);
  }

  update() {
    this.each("update");
  }

  /** Call one hook of every running widget; one failing leaves the others be. */
  each(hook) {
    for (const [id, widget] of this.running) {
      try {
        widget[hook]?.();
      } catch (error) {
        console.error(`a widget failed to ${hook}`, id, error);
      }
    }
  }

  destroy() {
    clearTimeout(this.updateTimer);
    clearInterval(this.ticker);
    document.removeEventListener("pointerdown", this.closeOnOutside);
    this.adder.remove();
    for (const id of [...this.running.keys()]) this.stop(id);
  }

  // -- cards ---------------------------------------------------------------------

  card(id) {
    const { title } = BY_ID.get(id);
    const headingId = `ov-widget-${id}-title`;
    const handle = h(
      "button",
      {
        type: "button",
        class: "ov-handle",
        "aria-label": `Move ${title}`,
        "aria-describedby": "ov-move-hint",
        title: "Drag, or use the arrow keys, to move",
      },
      "⠿",
    );
    handle.addEventListener("pointerdown", (event) => this.grab(event, id));
    handle.addEventListener("keydown", (event) => this.handleKey(event, id));
    const body = h("div", { class: "ov-widget-body" });
    const element = h(
      "li",
      { class: "ov-widget card", dataset: { widget: id }, "aria-labelledby": headingId },
      h(
        "div",
        { class: "ov-widget-head" },
        handle,
        h("h2", { id: headingId }, title),
        h(
          "div",
          { class: "ov-widget-tools" },
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": `Move ${title} earlier`,
              onclick: () => this.move(id, -1),
            },
            "◀",
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": `Move ${title} later`,
              onclick: () => this.move(id, 1),
            },
            "▶",
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": `Remove ${title}`,
              onclick: () => this.remove(id),
            },
            "✕",
          ),
        ),
      ),
      body,
    );
    this.cards.set(id, { element, body, handle });
    return element;
  }

  run(id) {
    const { body } = this.cards.get(id);
    try {
      this.running.set(id, BY_ID.get(id).create(body, this.context) || {});
    } catch (error) {
      console.error("a widget failed to start", id, error);
      body.append(h("p", { class: "problem" }, "This widget failed to load."));
    }
  }

  stop(id) {
    const widget = this.running.get(id);
    this.running.delete(id);
    try {
      widget?.destroy?.();
    } catch (error) {
      console.error("a widget failed to stop", id, error);
    }
  }

  showEmpty() {
    const empty = this.order.length === 0;
    this.element.classList.toggle("ov-widgets-empty", empty);
    if (empty && !this.editing) this.editButton.textContent = "Add widgets";
    else this.editButton.textContent = this.editing ? "Done" : "Edit widgets";
  }

  setEditing(on) {
    this.editing = on;
    this.element.classList.toggle("editing", on);
    this.editButton.classList.toggle("on", on);
    this.adder.hidden = !on;
    if (!on) this.toggleMenu(false);
    this.refreshAdder();
    this.showEmpty();
  }

  save() {
    setPreferences({ overview_widgets: [...this.order] });
    this.refreshAdder();
    this.showEmpty();
  }

  say(text) {
    this.announcer.textContent = text;
  }

  // -- adding and removing --------------------------------------------------------

  hidden() {
    return WIDGETS.filter((widget) => !this.order.includes(widget.id));
  }

  refreshAdder() {
    const hidden = this.hidden();
    this.addButton.disabled = hidden.length === 0;
    this.addButton.textContent = hidden.length ? "Add widget" : "All widgets shown";
  }

  toggleMenu(open = this.menu.hidden) {
    if (open && this.addButton.disabled) return;
    this.menu.hidden = !open;
    this.addButton.setAttribute("aria-expanded", String(open));
    if (!open) return;
    this.menu.replaceChildren(
      ...this.hidden().map((widget) =>
        h(
          "li",
          { role: "none" },
          h(
            "button",
            {
              type: "button",
              role: "menuitem",
              class: "ov-menu-item",
              onclick: () => this.add(widget.id),
            },
            widget.title,
          ),
        ),
      ),
    );
    this.menu.querySelector("button")?.focus();
  }

  menuKey(event) {
    const items = [...this.menu.querySelectorAll("button")];
    const at = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      this.toggleMenu(false);
      this.addButton.focus();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      items[(at + step + items.length) % items.length]?.focus();
    } else if (event.key === "Tab") {
      this.toggleMenu(false);
    }
  }

  add(id) {
    this.toggleMenu(false);
    this.order.push(id);
    this.grid.append(this.card(id));
    if (this.filled) this.run(id);
    this.save();
    this.cards.get(id).handle.focus();
    this.say(`${BY_ID.get(id).title} added.`);
  }

  remove(id) {
    const at = this.order.indexOf(id);
    this.stop(id);
    this.cards.get(id).element.remove();
    this.cards.delete(id);
    this.order.splice(at, 1);
    this.save();
    const next = this.order[Math.min(at, this.order.length - 1)];
    if (next) this.cards.get(next).handle.focus();
    else this.addButton.focus();
    this.say(`${BY_ID.get(id).title} removed.`);
  }

  // -- moving ---------------------------------------------------------------------

  move(id, step) {
    const from = this.order.indexOf(id);
    const to = Math.max(0, Math.min(this.order.length - 1, from + step));
    if (to === from) return;
    this.order.splice(from, 1);
    this.order.splice(to, 0, id);
    this.placeCards();
    this.save();
    this.cards.get(id).handle.focus();
    this.say(`${BY_ID.get(id).title} moved to place ${to + 1} of ${this.order.length}.`);
  }

  placeCards() {
    for (const id of this.order) this.grid.append(this.cards.get(id).element);
  }

  handleKey(event, id) {
    const steps = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };
    if (event.key in steps) {
      event.preventDefault();
      this.move(id, steps[event.key]);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      this.move(id, event.key === "Home" ? -this.order.length : this.order.length);
    }
  }

  grab(event, id) {
    if (event.button !== 0 || this.drag) return;
    event.preventDefault();
    const { element, handle } = this.cards.get(id);
    handle.setPointerCapture(event.pointerId);
    const box = element.getBoundingClientRect();
    this.drag = {
      id,
      element,
      pointerId: event.pointerId,
      startX: event.clientX,
      startY: event.clientY,
      originX: box.left,
      originY: box.top,
      before: [...this.order],
    };
    element.classList.add("dragging");
    const moved = (next) => this.dragTo(next);
    const dropped = (next) => {
      if (next.pointerId !== event.pointerId) return;
      window.removeEventListener("pointermove", moved);
      window.removeEventListener("pointerup", dropped);
      window.removeEventListener("pointercancel", dropped);
      this.drop();
    };
    window.addEventListener("pointermove", moved);
    window.addEventListener("pointerup", dropped);
    window.addEventListener("pointercancel", dropped);
  }

  dragTo(event) {
    const drag = this.drag;
    if (!drag || event.pointerId !== drag.pointerId) return;
    const { clientX: x, clientY: y } = event;

    // Near the edge of a row that scrolls sideways (phones), scroll it.
    const strip = this.grid.getBoundingClientRect();
    if (this.grid.scrollWidth > this.grid.clientWidth) {
      if (x < strip.left + EDGE_PX) this.grid.scrollLeft -= EDGE_STEP_PX;
      else if (x > strip.right - EDGE_PX) this.grid.scrollLeft += EDGE_STEP_PX;
    }

    // Over another card: take its place.
    for (const id of this.order) {
      if (id === drag.id) continue;
      const box = this.cards.get(id).element.getBoundingClientRect();
      if (x >= box.left && x <= box.right && y >= box.top && y <= box.bottom) {
        this.shift(drag, this.order.indexOf(id));
        break;
      }
    }

    // Follow the pointer from wherever the card now sits in the layout.
    drag.element.style.transform = "";
    const box = drag.element.getBoundingClientRect();
    const dx = drag.originX + (x - drag.startX) - box.left;
    const dy = drag.originY + (y - drag.startY) - box.top;
    drag.element.style.transform = `translate(${dx}px, ${dy}px)`;
  }

  /** Move the dragged card to place `to` by moving the cards it passes:
   * the dragged card itself stays in the page, keeping the pointer's capture. */
  shift(drag, to) {
    const from = this.order.indexOf(drag.id);
    const passed = to > from ? this.order.slice(from + 1, to + 1) : this.order.slice(to, from);
    const elements = passed.map((id) => this.cards.get(id).element);
    if (to > from) drag.element.before(...elements);
    else drag.element.after(...elements);
    this.order.splice(from, 1);
    this.order.splice(to, 0, drag.id);
  }

  drop() {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    drag.element.classList.remove("dragging");
    drag.element.style.transform = "";
    if (drag.before.join() !== this.order.join()) {
      this.save();
      const at = this.order.indexOf(drag.id);
      this.say(`${BY_ID.get(drag.id).title} moved to place ${at + 1} of ${this.order.length}.`);
    }
  }
}
