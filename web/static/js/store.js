// Every monitor's state as the dashboard knows it: one snapshot, then live updates.
//
// The overview snapshot (GET /overview) lists every monitor in one compact
// answer and names the live offset it includes; live updates after that
// offset keep it current: state changes for every monitor (the events room),
// check results for the monitors on screen. Views subscribe and are told,
// at most once per frame, which monitors changed.

import { ApiError, Offline, request } from "./api.js";
import { live } from "./live.js";

const RECENT = 30;
const LETTERS = { up: "u", down: "d", degraded: "g", pending: "p", maintenance: "m" };
const RELOADING_EVENTS = new Set([
  "monitor_created",
  "monitor_updated",
  "monitor_deleted",
  "monitor_paused",
  "monitor_resumed",
  "monitors_applied",
]);

class MonitorStore {
  constructor() {
    this.rows = new Map();
    this.sorted = [];
    this.etag = null;
    this.loaded = false;
    this.stale = false;
    this.listeners = new Set();
    this.changed = new Set();
    this.whole = false;
    this.flushQueued = false;
    this.reloadTimer = null;
    this.loading = null;
    this.unhooks = [];
  }

  /** Call fn(changedIds or null for "everything") after changes, once a frame. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Load the snapshot (again) and follow live updates. */
  start() {
    if (!this.unhooks.length) {
      this.unhooks = [
        live.on("event", (event) => this.takeEvent(event)),
        live.on("result", (result) => this.takeResult(result)),
        live.on("reload", () => this.reload(0)),
      ];
    }
    return this.load();
  }

  stop() {
    for (const unhook of this.unhooks) unhook();
    this.unhooks = [];
    this.rows = new Map();
    this.sorted = [];
    this.etag = null;
    this.loaded = false;
  }

  load() {
    if (!this.loading) {
      this.loading = this.fetchSnapshot().finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  async fetchSnapshot() {
    const headers = this.etag ? { "If-None-Match": this.etag } : {};
    let response;
    try {
      response = await request("GET", "/overview", { raw: true, headers });
    } catch (error) {
      if (error instanceof Offline || error instanceof ApiError) {
        this.stale = true;
        this.queueFlush();
      }
      throw error;
    }
    this.stale = response.headers.get("X-Upcast-Offline") === "1";
    if (response.status === 304) return;
    const snapshot = await response.json();
    this.etag = response.headers.get("ETag");
    this.take(snapshot);
    if (!this.stale) live.start(snapshot.offset ?? null);
  }

  take(snapshot) {
    const index = Object.fromEntries(snapshot.fields.map((name, at) => [name, at]));
    const rows = new Map();
    const sorted = [];
    for (const values of snapshot.monitors) {
      const row = {
        id: values[index.id],
        name: values[index.name],
        type: values[index.type],
        state: values[index.state],
        tags: values[index.tags] || [],
        latency_ms: values[index.latency_ms],
        checked_at: values[index.checked_at],
        reason: values[index.reason],
        recent: values[index.recent] || "",
      };
      row.search = `${row.name}\n${row.id}\n${row.tags.join("\n")}`.toLowerCase();
      rows.set(row.id, row);
      sorted.push(row);
    }
    this.rows = rows;
    this.sorted = sorted;
    this.at = snapshot.at;
    this.loaded = true;
    this.whole = true;
    this.queueFlush();
  }

  /** Load again soon: many changes in a burst cost one reload. */
  reload(delay = 300) {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load().catch(() => {}), delay);
  }

  takeEvent(event) {
    if (RELOADING_EVENTS.has(event.type)) {
      this.reload();
      return;
    }
    const row = this.rows.get(event.monitor_id);
    if (!row || !event.data || !event.data.after) return;
    row.state = event.data.after;
    row.reason = event.data.reason ?? null;
    this.touch(row.id);
  }

  takeResult(result) {
    const row = this.rows.get(result.monitor_id);
    if (!row || row.state === "paused") return;
    if (row.checked_at && result.started_at < row.checked_at) return;
    row.state = result.state || row.state;
    row.latency_ms = result.latency_ms;
    row.checked_at = result.started_at;
    row.reason = result.reason ?? null;
    row.recent = (row.recent + (LETTERS[row.state] || "?")).slice(-RECENT);
    this.touch(row.id);
  }

  touch(id) {
    this.changed.add(id);
    this.queueFlush();
  }

  queueFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    requestAnimationFrame(() => {
      this.flushQueued = false;
      const changed = this.whole ? null : this.changed;
      this.whole = false;
      this.changed = new Set();
      for (const fn of this.listeners) fn(changed);
    });
  }

  /** How many monitors are in each state. */
  counts() {
    const counts = {};
    for (const row of this.sorted) counts[row.state] = (counts[row.state] || 0) + 1;
    return counts;
  }
}

export const monitors = new MonitorStore();
