// One incident: what is wrong, who knows, its timeline, and acting on it.

import { ApiError, get, post, seg } from "../api.js";
import {
  field,
  fill,
  formatAgo,
  formatTime,
  h,
  showFieldProblems,
  stateBadge,
  toast,
  useStyles,
} from "../dom.js";
import { live } from "../live.js";
import {
  acknowledge,
  heldText,
  incidentOf,
  resolve,
  statusBadge,
} from "../ops/incident-actions.js";
import { canChange, formatDuration, formatSpan, monitorName, monitorsReady } from "../ops/kit.js";
import { failureText, showProblems } from "../ops/settings-page.js";

const REFRESH_DELAY_MS = 250;

const ACKNOWLEDGE_FOR = [
  ["", "Until resolved, or the policy's limit"],
  ["30m", "30 minutes"],
  ["1h", "1 hour"],
  ["4h", "4 hours"],
  ["24h", "1 day"],
];

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), monitorsReady()]);
  const id = params.id;
  const writable = canChange(context.user);
  let incident = null;
  let refreshTimer = null;
  let gone = false;

  const head = h("div", { class: "page-head" });
  const facts = h("section", { class: "card incident-facts", "aria-label": "Details" });
  const respond = h("section", { class: "card incident-respond", "aria-label": "Respond" });
  const timeline = h("ol", { class: "timeline", "aria-label": "Timeline" });
  const noteForm = writable ? noteEditor() : null;
  const announce = h("p", { class: "visually-hidden", "aria-live": "polite" });

  root.append(
    h("p", { class: "back" }, h("a", { href: "#/incidents" }, "← Incidents")),
    head,
    h(
      "div",
      { class: "incident-layout" },
      h("div", null, facts, writable ? respond : null),
      h(
        "section",
        { class: "card incident-timeline" },
        h("h2", null, "Timeline"),
        timeline,
        noteForm,
      ),
    ),
    announce,
  );

  async function refresh() {
    let found;
    try {
      found = await get(`/incidents/${seg(id)}`);
    } catch (error) {
      if (gone) return;
      if (error instanceof ApiError && error.status === 404) {
        fill(
          root,
          h("p", { class: "back" }, h("a", { href: "#/incidents" }, "← Incidents")),
          h("h1", null, "No such incident"),
          h("p", null, "No incident has the id ", h("code", null, id), "."),
        );
      } else {
        fill(head, h("h1", null, "Incident"), h("p", { class: "problem" }, failureText(error)));
      }
      return;
    }
    if (gone) return;
    const changedStatus = incident && incident.status !== found.status;
    incident = found;
    render();
    if (changedStatus) announce.textContent = `The incident is now ${found.status}.`;
  }

  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
  }

  function render() {
    const name = monitorName(incident.monitor_id);
    document.title = `${name}: incident · Upcast`;
    fill(
      head,
      h(
        "div",
        null,
        h("h1", null, "Incident: ", name),
        h("p", { class: "muted small" }, h("code", null, incident.id)),
      ),
      h(
        "div",
        { class: "incident-head-status", dataset: { status: incident.status } },
        statusBadge(incident.status),
        " ",
        stateBadge(incident.state),
      ),
    );
    fill(facts, h("h2", null, "Details"), details(incident));
    if (writable) renderRespond();
    fill(timeline, (incident.timeline || []).map(entry));
  }

  function renderRespond() {
    if (incident.status === "resolved") {
      fill(
        respond,
        h("h2", null, "Respond"),
        h("p", { class: "muted" }, `Resolved ${formatAgo(incident.resolved_at)}.`),
      );
      return;
    }
    const note = h("textarea", { name: "note", rows: 2 });
    const lasting = h(
      "select",
      { name: "for" },
      ACKNOWLEDGE_FOR.map(([value, label]) => h("option", { value }, label)),
    );
    const problems = h("div", { class: "form-problems", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "respond-form", novalidate: true },
      h("h2", null, "Respond"),
      field("Note (optional)", note, "Kept in the timeline with what you do."),
      incident.status === "open" ? field("Acknowledge for", lasting) : null,
      problems,
      h(
        "div",
        { class: "actions" },
        incident.status === "open"
          ? h(
              "button",
              { type: "submit", class: "primary ack-button", value: "acknowledge" },
              "Acknowledge",
            )
          : null,
        h("button", { type: "submit", class: "resolve-button", value: "resolve" }, "Resolve"),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter?.value || "acknowledge";
      const buttons = form.querySelectorAll("button");
      for (const button of buttons) button.disabled = true;
      try {
        if (action === "resolve") await resolve(id, { note: note.value.trim() });
        else await acknowledge(id, { note: note.value.trim(), lasting: lasting.value });
        toast(action === "resolve" ? "Resolved" : "Acknowledged", "ok");
        await refresh();
        (respond.querySelector("button") || timeline).focus?.();
      } catch (error) {
        showProblems(form, error);
        for (const button of buttons) button.disabled = false;
      }
    });
    fill(respond, form);
  }

  function noteEditor() {
    const text = h("textarea", { name: "text", rows: 3, required: true });
    const problems = h("div", { class: "form-problems", role: "alert", hidden: true });
    const save = h("button", { type: "submit" }, "Add note");
    const form = h(
      "form",
      { class: "note-form", novalidate: true },
      field("Add a note", text),
      problems,
      h("div", { class: "actions" }, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!text.value.trim()) {
        showFieldProblems(form, {
          message: "",
          fields: [{ field: "text", problem: "Write something first." }],
        });
        text.focus();
        return;
      }
      save.disabled = true;
      try {
        await post(`/incidents/${seg(id)}/notes`, { text: text.value });
        text.value = "";
        showFieldProblems(form, { message: "", fields: [] });
        problems.hidden = true;
        toast("Note added", "ok");
        await refresh();
      } catch (error) {
        showProblems(form, error);
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }

  const unhook = live.on("incident", (message) => {
    if (incidentOf(message)?.id === id) refreshSoon();
  });
  const unhookReload = live.on("reload", refreshSoon);

  await refresh();
  return () => {
    gone = true;
    clearTimeout(refreshTimer);
    unhook();
    unhookReload();
    document.title = "Upcast";
  };
}

function time(seconds) {
  return h(
    "time",
    { datetime: new Date(seconds * 1000).toISOString(), title: formatAgo(seconds) },
    formatTime(seconds),
  );
}

function details(incident) {
  const rows = [];
  const add = (label, ...value) => {
    if (value.some((part) => part !== null && part !== undefined && part !== "")) {
      rows.push(h("dt", null, label), h("dd", null, ...value));
    }
  };
  const end = incident.resolved_at || Date.now() / 1000;
  add(
    "Monitor",
    h(
      "a",
      { href: `#/monitors/${encodeURIComponent(incident.monitor_id)}`, class: "monitor-link" },
      monitorName(incident.monitor_id),
    ),
  );
  add("Severity", incident.severity);
  add("Reason", incident.reason);
  add("Message", incident.message);
  add("Opened", time(incident.opened_at));
  add(incident.resolved_at ? "Lasted" : "Open for", formatSpan(end - incident.opened_at));
  if (incident.resolved_at)
    add("Resolved", time(incident.resolved_at), ` ${resolvedBy(incident.resolved_by)}`);
  if (incident.acknowledged_by) {
    add(
      "Acknowledged",
      `by ${incident.acknowledged_by} `,
      incident.acknowledged_at ? time(incident.acknowledged_at) : null,
      incident.acknowledgement_ends_at
        ? ` until ${formatTime(incident.acknowledgement_ends_at)}`
        : null,
    );
  }
  const held = heldText(incident);
  if (held) {
    add(
      "Alerts",
      held,
      incident.cause
        ? h(
            "span",
            null,
            " (caused by ",
            h(
              "a",
              { href: `#/monitors/${encodeURIComponent(incident.cause)}` },
              monitorName(incident.cause),
            ),
            ")",
          )
        : null,
    );
  }
  if (incident.flapping) add("Flapping", "yes: changing state often");
  if (incident.escalation) {
    add(
      "Escalation",
      h("a", { href: "#/escalations" }, incident.escalation),
      `: ${incident.level} level${incident.level === 1 ? "" : "s"} told`,
      incident.escalation_due_at ? `, next ${formatTime(incident.escalation_due_at)}` : "",
    );
  }
  if (incident.route) add("Route", incident.route);
  if (incident.notified_at) add("Last notified", time(incident.notified_at));
  add("Updated", time(incident.updated_at));
  return h("dl", { class: "facts" }, rows);
}

function resolvedBy(by) {
  if (by === "recovery") return "(the monitor recovered)";
  if (by === "paused") return "(the monitor was paused)";
  if (by === "deleted") return "(the monitor was deleted)";
  return by ? `by ${by}` : "";
}

const KIND_TEXT = {
  opened: "Opened",
  state: "State changed",
  notified: "Notified",
  escalated: "Escalated",
  acknowledged: "Acknowledged",
  acknowledgement_expired: "Acknowledgement expired",
  note: "Note",
  resolved: "Resolved",
  held: "Held back",
  released: "Released",
  flapping: "Flapping",
  settled: "Settled",
};

/** One timeline entry: when, what kind, and what it says. */
function entry(item) {
  const data = item.data || {};
  return h(
    "li",
    { class: `timeline-entry timeline-${item.kind}`, dataset: { kind: item.kind } },
    h(
      "div",
      { class: "timeline-head" },
      h("strong", null, KIND_TEXT[item.kind] || item.kind),
      " ",
      time(item.at),
    ),
    h("div", { class: "timeline-body" }, entryText(item.kind, data)),
  );
}

function entryText(kind, data) {
  const channels = (list) => (list || []).join(", ") || "no channels";
  switch (kind) {
    case "opened":
      return [stateBadge(data.state), data.reason ? ` ${data.reason}` : ""];
    case "state":
      return [
        stateBadge(data.before),
        " → ",
        stateBadge(data.after),
        data.reason ? ` ${data.reason}` : "",
        data.message ? h("span", { class: "muted small block" }, data.message) : null,
      ];
    case "notified": {
      const told = data.status === "resolved" ? "Told resolved" : "Told firing";
      const others = data.members - 1;
      const joined = others > 0 ? `, with ${others} other incident${others === 1 ? "" : "s"}` : "";
      return `${told} to ${channels(data.channels)}${joined}.`;
    }
    case "escalated": {
      const round = data.round ? `, round ${Number(data.round) + 1}` : "";
      return `Level ${Number(data.level) + 1} of ${data.policy}${round}: ${channels(data.channels)}.`;
    }
    case "acknowledged":
      return [
        `By ${data.by}${data.until ? `, until ${formatTime(data.until)}` : ""}.`,
        data.note ? h("q", { class: "block" }, data.note) : null,
      ];
    case "acknowledgement_expired":
      return `The acknowledgement by ${data.by || "someone"} ran out; escalation starts again.`;
    case "note":
      return [
        h("span", { class: "muted" }, `${data.by}: `),
        h("span", { class: "note-text" }, data.text),
      ];
    case "resolved":
      return [
        resolvedBy(data.by) || "Resolved.",
        data.note ? h("q", { class: "block" }, data.note) : null,
      ];
    case "held":
      return data.why === "maintenance"
        ? `Alerts held: maintenance window ${data.window || ""}.`
        : `Alerts held: ${data.cause ? monitorName(data.cause) : "a dependency"} is down.`;
    case "released":
      return `No longer held (${data.was}).`;
    case "flapping":
      return `${data.changes} state changes within ${formatDuration(data.window)}.`;
    case "settled":
      return ["Stopped flapping, staying ", stateBadge(data.state), "."];
    default:
      return h("code", null, JSON.stringify(data));
  }
}
