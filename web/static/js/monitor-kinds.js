// The check kinds a monitor can be: what their target means and which options
// the form shows for each. Options a kind has but the form leaves out (headers,
// Basic authentication, a JSON body...) are edited as JSON.

export { formatDuration } from "./dom.js";

// Each option: [name under options, label, input type, extra].
// Types: text, number, duration, select (extra.choices), check (a boolean),
// list (comma separated values), area (multi-line text), secret.
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "SOA"];

export const KINDS = [
  {
    kind: "http",
    aliases: ["https"],
    title: "HTTP(S)",
    target: ["URL", "An http:// or https:// address.", "https://example.com/health"],
    options: [
      ["method", "Method", "select", { choices: HTTP_METHODS, blank: "GET (POST with a body)" }],
      [
        "expect_status",
        "Expected status",
        "status",
        {
          hint:
            "A code, a range (200-299), a class (2xx), or several separated by commas. " +
            "Default 200-399.",
        },
      ],
      ["keyword", "Keyword", "text", { hint: "Text the body must contain." }],
      ["keyword_absent", "Keyword absent", "text", { hint: "Text the body must not contain." }],
      ["regex", "Regular expression", "text", { hint: "Must match the body." }],
      ["regex_absent", "Regular expression absent", "text"],
      [
        "condition",
        "Condition",
        "text",
        {
          hint: 'An assertion, e.g. status == 200 and body.status == "UP" and cert_days > 14',
        },
      ],
      ["body", "Request body", "area"],
      ["bearer_token", "Bearer token", "secret"],
      ["verify_tls", "Verify the TLS certificate", "check", { default: true }],
      ["cert_days_min", "Fail when the certificate has fewer days left", "number"],
      ["max_redirects", "Redirects to follow", "number", { hint: "Default 10, at most 30." }],
      ["max_body_bytes", "Largest body (bytes)", "number", { hint: "Default 1 MiB." }],
    ],
  },
  {
    kind: "tcp",
    title: "TCP port",
    target: ["Host and port", "host:port, or [::1]:22 for IPv6.", "db.example.com:5432"],
    options: [
      ["send", "Send", "text", { hint: "Text sent after connecting." }],
      ["send_hex", "Send (hex)", "text", { hint: 'Bytes in hex, e.g. "0d 0a".' }],
      ["expect", "Expected reply", "text", { hint: "A regular expression the reply must match." }],
      ["max_bytes", "Most bytes read", "number", { hint: "Default 65536." }],
      ["condition", "Condition", "text", { hint: "An assertion over reply and response_time." }],
    ],
  },
  {
    kind: "dns",
    title: "DNS record",
    target: ["Name", "The name to resolve.", "example.com"],
    options: [
      ["record_type", "Record type", "select", { choices: RECORD_TYPES, blank: "A" }],
      ["resolver", "Resolver", "text", { hint: "ip, ip:port or [v6]:port; default the system's." }],
      [
        "expect",
        "Expected answers",
        "list",
        { hint: "Values that must all be among the answers, by commas." },
      ],
      [
        "expect_rcode",
        "Expected response code",
        "text",
        { hint: "e.g. NXDOMAIN; default NOERROR with an answer." },
      ],
      ["transport", "Transport", "select", { choices: ["udp", "tcp"], blank: "udp" }],
      [
        "condition",
        "Condition",
        "text",
        { hint: "An assertion over answers, rcode and response_time." },
      ],
    ],
  },
  {
    kind: "icmp",
    aliases: ["ping"],
    title: "Ping (ICMP)",
    target: ["Host", "A host name or address.", "10.0.0.1"],
    options: [
      ["count", "Echo requests", "number", { hint: "1 to 100; default 3." }],
      ["interval", "Between requests", "duration", { hint: "Default 0.5s." }],
      ["wait", "Wait after the last", "duration", { hint: "Default 1s." }],
      [
        "max_loss",
        "Most loss (%)",
        "number",
        { hint: "By default only losing every reply fails." },
      ],
      ["max_rtt_ms", "Slowest average round trip (ms)", "number"],
      ["payload_size", "Payload size (bytes)", "number", { hint: "Default 56." }],
    ],
  },
  {
    kind: "push",
    title: "Push (heartbeat)",
    target: ["Token", "What the job sends; empty means the monitor's id.", ""],
    options: [
      [
        "grace",
        "Grace period",
        "duration",
        { hint: "Extra time after the expected ping; default 1m." },
      ],
      [
        "cron",
        "Cron schedule",
        "text",
        { hint: 'When pings are expected instead of every interval, e.g. "0 3 * * *".' },
      ],
      ["timezone", "Time zone of the schedule", "text", { hint: "Default UTC." }],
    ],
  },
  {
    kind: "composite",
    title: "Composite",
    target: ["Members", "Monitor ids separated by commas.", "api-1,api-2,api-3"],
    options: [
      ["mode", "Mode", "select", { choices: ["all", "any", "at_least"], blank: "all" }],
      ["at_least", "At least this many up", "number", { hint: "With mode at_least." }],
    ],
  },
];

const BY_NAME = new Map();
for (const kind of KINDS) {
  BY_NAME.set(kind.kind, kind);
  for (const alias of kind.aliases || []) BY_NAME.set(alias, kind);
}

/** The description of a kind by its name or alias; null for kinds the form does not know. */
export function kindOf(name) {
  return BY_NAME.get(name) || null;
}

/** A short line saying what a monitor checks: "HTTP(S) https://x/health". */
export function targetSummary(monitor) {
  const known = kindOf(monitor.kind);
  const title = known ? known.title : monitor.kind;
  if (monitor.kind === "push") {
    return `${title}: ${location.origin}/push/${monitor.target || monitor.id}`;
  }
  return monitor.target ? `${title}: ${monitor.target}` : title;
}
