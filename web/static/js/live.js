// Live updates over socket.io: one connection, the rooms on screen, catching up.
//
// The connection asks only for what the page shows: the `events` room (every
// state change and incident, no check results) and the rooms of the monitors
// on screen. Every update carries an offset; after a dropped connection the
// client reconnects with backoff, sending the last offset it saw and the
// rooms it wants, and the gateway replays what those rooms missed, or says
// "reload" when too much was missed.

import { io } from "../vendor/socket.io.esm.min.js";
import { accessToken } from "./api.js";

const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 15000;

class Live {
  constructor() {
    this.socket = null;
    this.offset = null;
    this.monitors = new Set();
    this.watching = new Map();
    this.events = true;
    this.listeners = new Map();
    this.status = "offline";
    this.retries = 0;
  }

  /** Call fn(data) for "result", "event", "incident", "reload" or "status". */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, new Set());
    this.listeners.get(kind).add(fn);
    return () => this.listeners.get(kind).delete(fn);
  }

  emit(kind, data) {
    for (const fn of this.listeners.get(kind) || []) {
      try {
        fn(data);
      } catch (error) {
        console.error("a live update listener failed", error);
      }
    }
  }

  setStatus(status) {
    this.status = status;
    this.emit("status", status);
  }

  /** Start (or keep) the connection; offset is what a snapshot already holds. */
  start(offset = null) {
    if (offset !== null && (this.offset === null || offset > this.offset)) {
      this.offset = offset;
    }
    if (this.socket) return;
    this.socket = io(location.origin, {
      path: "/socket.io",
      transports: ["websocket"],
      reconnectionDelay: FIRST_RETRY_MS,
      reconnectionDelayMax: LAST_RETRY_MS,
      randomizationFactor: 0.5,
      auth: (answer) => {
        accessToken().then(
          (token) => answer(this.offset === null ? { token } : { token, offset: this.offset }),
          () => answer({}),
        );
      },
      query: this.query(),
    });
    const socket = this.socket;
    socket.io.on("reconnect_attempt", () => {
      socket.io.opts.query = this.query();
      this.setStatus("connecting");
    });
    socket.on("connect", () => {
      this.retries = 0;
      // The query named the rooms wanted when the connection opened; joining
      // again covers monitors that came on screen while it was opening.
      for (const id of this.monitors) socket.emit("subscribe", { monitor: id });
      this.setStatus("live");
    });
    socket.on("disconnect", () => this.setStatus("connecting"));
    socket.on("connect_error", () => {
      this.setStatus("offline");
      // A refusal (an expired token, say) stops socket.io's own retries;
      // try again with backoff, asking for a fresh token.
      if (!socket.active) {
        const delay = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** this.retries);
        this.retries += 1;
        setTimeout(() => this.socket === socket && socket.connect(), delay);
      }
    });
    for (const kind of ["result", "event", "incident"]) {
      socket.on(kind, (data) => {
        this.seen(data?.offset);
        this.emit(kind, data);
      });
    }
    socket.on("offset", (data) => this.seen(typeof data === "number" ? data : data?.offset));
    socket.on("recovery", (answer) => {
      if (answer?.status === "reload") this.emit("reload", answer);
    });
    socket.on("presence", (data) => this.emit("presence", data));
  }

  seen(offset) {
    if (typeof offset === "number" && (this.offset === null || offset > this.offset)) {
      this.offset = offset;
    }
  }

  query() {
    const query = {};
    if (this.events) query.events = "1";
    if (this.monitors.size) query.monitors = [...this.monitors].join(",");
    return query;
  }

  /**
   * Receive check results for exactly these monitors, on behalf of owner
   * (a page or a widget). The rooms joined are the union of every owner's
   * monitors, so a page that cleans up late cannot empty the next page's.
   */
  watch(ids, owner = "page") {
    if (ids.length) this.watching.set(owner, new Set(ids));
    else this.watching.delete(owner);
    const wanted = new Set();
    for (const set of this.watching.values()) for (const id of set) wanted.add(id);
    const socket = this.socket;
    for (const id of this.monitors) {
      if (!wanted.has(id) && socket?.connected) socket.emit("unsubscribe", { monitor: id });
    }
    for (const id of wanted) {
      if (!this.monitors.has(id) && socket?.connected) socket.emit("subscribe", { monitor: id });
    }
    this.monitors = wanted;
    if (socket) socket.io.opts.query = this.query();
  }

  /** Ask who is watching; answers the gateway's list. */
  who() {
    return new Promise((resolve) => {
      if (!this.socket?.connected) resolve([]);
      else this.socket.emit("who", null, (answer) => resolve(answer));
    });
  }

  stop() {
    this.socket?.disconnect();
    this.socket = null;
    this.monitors = new Set();
    this.watching = new Map();
    this.offset = null;
    this.setStatus("offline");
  }
}

export const live = new Live();
