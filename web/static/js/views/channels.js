// Notification channels: where alerts go, a test message, and recent deliveries.
//
// Secret fields (tokens, passwords, webhook addresses that carry a key) are
// write-only: the API shows a stored one as a placeholder, and sending the
// placeholder back keeps the stored value. The form never fills a secret in;
// an empty secret field on save sends the placeholder when a value is stored.

import { get, post, seg } from "../api.js";
import { field, fill, formatAgo, formatTime, h, useStyles } from "../dom.js";
import { canChange, formatDuration } from "../ops/kit.js";
import { checkboxField, failureText, optional, settingsPage } from "../ops/settings-page.js";

const HIDDEN = "********";
const DELIVERIES_SHOWN = 10;

const TIMEOUT = {
  name: "timeout",
  label: "Timeout",
  hint: "How long one attempt may take, e.g. 10s.",
};

/** Each kind of channel and its fields, in the order the form shows them. */
const KINDS = {
  webhook: {
    label: "Webhook",
    fields: [
      { name: "url", label: "URL", type: "url", hint: "A JSON body is POSTed here." },
      {
        name: "secret",
        label: "Signing secret",
        secret: true,
        optional: true,
        hint: "Signs each request (X-Upcast-Signature).",
      },
      {
        name: "headers",
        label: "Extra headers",
        secret: true,
        optional: true,
        type: "headers",
        hint: "One per line: Name: value (an Authorization token, say).",
      },
      TIMEOUT,
    ],
  },
  slack: {
    label: "Slack",
    fields: [{ name: "url", label: "Incoming webhook URL", secret: true, type: "url" }, TIMEOUT],
  },
  discord: {
    label: "Discord",
    fields: [{ name: "url", label: "Webhook URL", secret: true, type: "url" }, TIMEOUT],
  },
  teams: {
    label: "Microsoft Teams",
    fields: [{ name: "url", label: "Incoming webhook URL", secret: true, type: "url" }, TIMEOUT],
  },
  telegram: {
    label: "Telegram",
    fields: [
      {
        name: "bot_token",
        label: "Bot token",
        secret: true,
        hint: "From BotFather: 123456:ABC-DEF…",
      },
      {
        name: "chat_id",
        label: "Chat",
        hint: "A chat's number (negative for groups) or @channelname.",
      },
      {
        name: "api_url",
        label: "API address",
        type: "url",
        optional: true,
        hint: "Leave empty for Telegram's own.",
      },
      TIMEOUT,
    ],
  },
  pagerduty: {
    label: "PagerDuty",
    fields: [
      {
        name: "routing_key",
        label: "Integration key",
        secret: true,
        hint: "Of an Events API v2 integration.",
      },
      { name: "source", label: "Source", optional: true, hint: "Shown as the alert's source." },
      {
        name: "api_url",
        label: "API address",
        type: "url",
        optional: true,
        hint: "Leave empty for PagerDuty's own.",
      },
      TIMEOUT,
    ],
  },
  opsgenie: {
    label: "Opsgenie",
    fields: [
      { name: "api_key", label: "API key", secret: true },
      {
        name: "api_url",
        label: "API address",
        type: "url",
        optional: true,
        hint: "https://api.eu.opsgenie.com in the EU; leave empty otherwise.",
      },
      TIMEOUT,
    ],
  },
  email: {
    label: "Email",
    titleField: "subject",
    fields: [
      { name: "host", label: "SMTP server" },
      {
        name: "port",
        label: "Port",
        type: "number",
        optional: true,
        hint: "Leave empty for the usual port of the security chosen.",
      },
      {
        name: "security",
        label: "Security",
        type: "select",
        options: [
          ["starttls", "STARTTLS (upgrade a plain connection)"],
          ["tls", "TLS from the start"],
          ["none", "None (a trusted relay only)"],
        ],
      },
      { name: "username", label: "User name", optional: true },
      { name: "password", label: "Password", secret: true, optional: true },
      { name: "from", label: "From", hint: "Ops <ops@example.com>" },
      { name: "to", label: "To", type: "list", hint: "One address per line." },
      TIMEOUT,
    ],
  },
};

const TEMPLATE_NAMES = ["language", "title", "subject", "text"];
const COVERED = [
  "name",
  "enabled",
  "kind",
  ...TEMPLATE_NAMES,
  ...new Set(Object.values(KINDS).flatMap((kind) => kind.fields.map((spec) => spec.name))),
];

export async function mount(root, params, context) {
  await useStyles("ops");
  const writable = canChange(context.user);
  const page = settingsPage(root, context, {
    title: "Notification channels",
    intro:
      "Where alerts are sent. Routes pick which monitors' incidents reach a channel; escalation policies name channels too.",
    path: "/channels",
    key: "channels",
    noun: "channel",
    idHint: "Letters, digits, '.', '_' or '-', e.g. ops-slack.",
    known: COVERED,
    summary,
    form,
    itemActions: (channel, item) => (writable ? testButton(channel, item) : null),
  });
  await page.ready;
}

// -- the list -------------------------------------------------------------------

function summary(channel) {
  const kind = KINDS[channel.kind];
  return [
    h(
      "p",
      { class: "badges" },
      h("span", { class: "tag-badge" }, kind?.label || channel.kind || "unknown kind"),
      channel.enabled === false ? h("span", { class: "tag-badge badge-off" }, "Disabled") : null,
    ),
    h("dl", { class: "facts" }, destination(channel)),
    h("p", { class: "test-result", role: "status", "aria-live": "polite" }),
    deliveries(channel),
  ];
}

/** Where a channel sends, from its fields that are not secret. */
function destination(channel) {
  const facts = [];
  const add = (label, value) => {
    if (value !== undefined && value !== null && value !== "")
      facts.push(h("dt", null, label), h("dd", null, value));
  };
  const secretNote = (name) => (channel[name] === HIDDEN ? "stored, hidden" : "not set");
  switch (channel.kind) {
    case "webhook":
      add("URL", h("code", null, channel.url));
      add("Signing secret", secretNote("secret"));
      break;
    case "slack":
    case "discord":
    case "teams":
      add("Webhook", secretNote("url"));
      break;
    case "telegram":
      add("Chat", String(channel.chat_id ?? ""));
      add("Bot token", secretNote("bot_token"));
      break;
    case "pagerduty":
      add("Integration key", secretNote("routing_key"));
      add("Source", channel.source);
      break;
    case "opsgenie":
      add("API key", secretNote("api_key"));
      add("API", channel.api_url);
      break;
    case "email":
      add("To", (channel.to || []).join(", "));
      add("Server", channel.host ? `${channel.host}${channel.port ? `:${channel.port}` : ""}` : "");
      break;
    default:
      break;
  }
  if (channel.timeout) add("Timeout", formatDuration(channel.timeout));
  return facts;
}

function testButton(channel, item) {
  const button = h(
    "button",
    {
      type: "button",
      class: "test-button",
      "aria-label": `Send test to ${channel.name || channel.id}`,
    },
    "Send test",
  );
  button.addEventListener("click", async () => {
    const result = item.querySelector(".test-result");
    button.disabled = true;
    result.className = "test-result muted";
    result.textContent = "Sending a test notification…";
    try {
      const answer = await post(`/channels/${seg(channel.id)}/test`);
      const status = answer.status ? ` (${answer.status})` : "";
      result.className = `test-result ${answer.ok ? "test-ok" : "test-failed"}`;
      fill(
        result,
        answer.ok
          ? `Test sent: ${answer.detail || "delivered"}${status}.`
          : `Test failed: ${answer.detail}${status}.`,
        !answer.ok && answer.retryable ? " A later attempt might work." : "",
        answer.response ? h("span", { class: "test-response" }, answer.response) : null,
      );
    } catch (error) {
      result.className = "test-result test-failed";
      result.textContent = `Test not sent: ${failureText(error)}`;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function deliveries(channel) {
  const body = h("div", { class: "deliveries-body" }, h("p", { class: "muted" }, "Loading…"));
  const details = h(
    "details",
    { class: "deliveries" },
    h("summary", null, "Recent deliveries"),
    body,
  );
  details.addEventListener("toggle", async () => {
    if (!details.open) return;
    try {
      const answer = await get(`/channels/${seg(channel.id)}/deliveries`, {
        limit: DELIVERIES_SHOWN,
      });
      fill(body, deliveryTable(answer.deliveries || []));
    } catch (error) {
      fill(body, h("p", { class: "problem" }, failureText(error)));
    }
  });
  return details;
}

function deliveryTable(attempts) {
  if (!attempts.length) return h("p", { class: "muted" }, "Nothing sent through this channel yet.");
  return h(
    "ol",
    { class: "delivery-list" },
    attempts.map((attempt) =>
      h(
        "li",
        { class: "delivery" },
        h(
          "span",
          { class: `tag-badge ${attempt.ok ? "badge-ok" : "badge-failed"}` },
          attempt.ok ? "sent" : "failed",
        ),
        h("time", { title: formatTime(attempt.at) }, formatAgo(attempt.at)),
        attempt.status ? h("span", null, `answer ${attempt.status}`) : null,
        h(
          "span",
          { class: "muted small" },
          `attempt ${attempt.attempt} of notification ${attempt.entry_id}`,
        ),
        attempt.detail ? h("span", { class: "delivery-detail" }, attempt.detail) : null,
      ),
    ),
  );
}

// -- the form ----------------------------------------------------------------------

function form(channel) {
  const name = h("input", { name: "name", value: channel?.name || "" });
  const enabled = checkboxField("Enabled", "enabled", channel ? channel.enabled !== false : true);
  const kind = h(
    "select",
    { name: "kind" },
    Object.entries(KINDS).map(([value, spec]) =>
      h("option", { value, selected: (channel?.kind || "webhook") === value }, spec.label),
    ),
  );
  const kindFields = h("div", { class: "kind-fields" });
  const language = h(
    "select",
    { name: "language" },
    h("option", { value: "" }, "Default (English)"),
    h("option", { value: "en", selected: channel?.language === "en" }, "English"),
    h("option", { value: "tr", selected: channel?.language === "tr" }, "Turkish"),
  );
  const title = h(
    "textarea",
    { name: "title", rows: 2, spellcheck: "false" },
    channel?.title || channel?.subject || "",
  );
  const text = h("textarea", { name: "text", rows: 4, spellcheck: "false" }, channel?.text || "");
  const titleField = field("Title template", title, "Jinja2; empty for the default.");

  let inputs = [];

  function showKind() {
    const spec = KINDS[kind.value];
    const sameKind = channel && channel.kind === kind.value;
    inputs = spec.fields.map((fieldSpec) => kindInput(fieldSpec, sameKind ? channel : null));
    fill(
      kindFields,
      inputs.map((input) => input.element),
    );
    const titleName = spec.titleField || "title";
    title.name = titleName;
    titleField.dataset.field = titleName;
    titleField.querySelector("label").textContent =
      titleName === "subject" ? "Subject template" : "Title template";
  }
  kind.addEventListener("change", showKind);
  showKind();

  return {
    fields: [
      field("Name", name, channel ? null : "Leave empty to use the id."),
      enabled.element,
      field("Kind", kind),
      kindFields,
      h(
        "details",
        { class: "templates", open: Boolean(channel?.title || channel?.subject || channel?.text) },
        h("summary", null, "Message templates"),
        field("Language", language),
        titleField,
        field("Text template", text, "Jinja2; reads monitor, state, reason, message, link…"),
      ),
    ],
    focus: name,
    read() {
      const body = {
        name: optional(name.value),
        enabled: enabled.input.checked,
        kind: kind.value,
        language: language.value || undefined,
        [title.name]: optional(title.value),
        text: optional(text.value),
      };
      for (const input of inputs) {
        const value = input.read();
        if (value !== undefined) body[input.name] = value;
      }
      return body;
    },
  };
}

/** One field of a channel's kind: its element, and how to read what it sends. */
function kindInput(spec, stored) {
  const storedValue = stored ? stored[spec.name] : undefined;
  const secretStored = spec.secret && storedValue === HIDDEN;
  let input;
  if (spec.type === "select") {
    input = h(
      "select",
      { name: spec.name },
      spec.options.map(([value, label]) =>
        h("option", { value, selected: (storedValue || spec.options[0][0]) === value }, label),
      ),
    );
  } else if (spec.type === "headers" || spec.type === "list") {
    const shown = spec.secret ? "" : (storedValue || []).join("\n");
    input = h(
      "textarea",
      { name: spec.name, rows: 3, spellcheck: "false", autocomplete: "off" },
      shown,
    );
  } else {
    input = h("input", {
      name: spec.name,
      type: spec.secret
        ? "password"
        : spec.type === "number"
          ? "number"
          : spec.type === "url"
            ? "url"
            : "text",
      autocomplete: spec.secret ? "new-password" : "off",
      spellcheck: "false",
      value: spec.secret
        ? ""
        : spec.name === "timeout"
          ? formatDuration(storedValue)
          : (storedValue ?? ""),
    });
  }
  if (secretStored) {
    input.placeholder = "Stored and hidden: leave empty to keep";
  }
  const hint = secretStored
    ? `A value is stored and never shown; type a new one to replace it.${spec.hint ? ` ${spec.hint}` : ""}`
    : spec.hint;
  const element = field(spec.label + (spec.optional ? " (optional)" : ""), input, hint);
  let remove = null;
  if (secretStored && spec.optional) {
    remove = checkboxField(
      `Remove the stored ${spec.label.toLowerCase()}`,
      `${spec.name}-remove`,
      false,
    );
    element.append(remove.element);
  }

  return {
    name: spec.name,
    element,
    read() {
      if (remove?.input.checked) return null;
      const raw = input.value;
      if (spec.secret && raw.trim() === "") return secretStored ? HIDDEN : undefined;
      if (spec.type === "headers") return parseHeaders(raw);
      if (spec.type === "list")
        return raw
          .split(/[\n,]/)
          .map((item) => item.trim())
          .filter(Boolean);
      if (spec.type === "number") {
        if (raw.trim() === "") return undefined;
        const number = Number(raw);
        return Number.isInteger(number) ? number : raw;
      }
      if (spec.name === "chat_id" && /^-?\d+$/.test(raw.trim())) return Number(raw.trim());
      return spec.secret ? raw : optional(raw);
    },
  };
}

/**
 * "Name: value" lines as an object; a line without a colon is sent as a
 * name alone, for the API to name its problem.
 */
function parseHeaders(text) {
  const headers = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at < 0) headers[line.trim()] = "";
    else headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return Object.keys(headers).length ? headers : undefined;
}
