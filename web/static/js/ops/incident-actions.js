// What the incident list and the incident page share: how a status reads,
// and acknowledging or resolving one.

import { post, seg } from "../api.js";
import { h } from "../dom.js";

export const STATUSES = ["open", "acknowledged", "resolved"];

const STATUS_TEXT = { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" };

/** An incident's status as a small label. */
export function statusBadge(status) {
  const known = STATUSES.includes(status) ? status : "open";
  return h("span", { class: `incident-status incident-${known}` }, STATUS_TEXT[known]);
}

/** Why an incident's alerts are held back, in words, or null. */
export function heldText(incident) {
  if (incident.held === "maintenance") return "Held: maintenance";
  if (incident.held === "dependency") return "Held: a dependency is down";
  return incident.held ? `Held: ${incident.held}` : null;
}

/**
 * Acknowledge an incident; answers the incident as it is now.
 * note and lasting ("30m", seconds) are optional.
 */
export function acknowledge(id, { note, lasting } = {}) {
  const body = {};
  if (note) body.note = note;
  if (lasting) body.for = lasting;
  return post(`/incidents/${seg(id)}/acknowledge`, Object.keys(body).length ? body : undefined);
}

/** Resolve an incident by hand, with an optional note. */
export function resolve(id, { note } = {}) {
  return post(`/incidents/${seg(id)}/resolve`, note ? { note } : undefined);
}

/** The incident an "incident" live update carries. */
export function incidentOf(update) {
  const incident = update?.data;
  return incident && typeof incident.id === "string" ? incident : null;
}
