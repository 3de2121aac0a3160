// Status pages: public pages of some monitors' health, at /status/<id>.
//
// A page names monitors by id and by tag; anyone with its address can read
// it without signing in, so it shows only names, states, uptime, latency if
// asked, and incidents.

import { field, h, toast, useStyles } from "../dom.js";
import { copyText, monitorChooser, monitorName, monitorsReady, tagChooser } from "../ops/kit.js";
import { checkboxField, optional, settingsPage } from "../ops/settings-page.js";

const SHOWN_MONITORS = 6;

export async function mount(root, params, context) {
  await Promise.all([useStyles("ops"), monitorsReady()]);
  const page = settingsPage(root, context, {
    title: "Status pages",
    intro:
      "Public pages anyone with the link can read, signed in or not: monitor names, states, uptime and incidents, never targets.",
    path: "/status-pages",
    key: "status_pages",
    noun: "status page",
    idHint: "The page's address: 1-64 lowercase letters, digits and dashes, e.g. public-api.",
    known: ["title", "description", "monitors", "tags", "show_latency"],
    named: (statusPage) => statusPage.title,
    summary,
    form,
  });
  await page.ready;
}

function publicAddress(statusPage) {
  return `${location.origin}/status/${encodeURIComponent(statusPage.id)}`;
}

function summary(statusPage) {
  const address = publicAddress(statusPage);
  const names = (statusPage.monitors || []).map(monitorName);
  const more = names.length > SHOWN_MONITORS ? ` and ${names.length - SHOWN_MONITORS} more` : "";
  return [
    statusPage.description ? h("p", null, statusPage.description) : null,
    h(
      "p",
      { class: "public-link" },
      h(
        "a",
        { href: address, target: "_blank", rel: "noopener", class: "open-status-page" },
        `/status/${statusPage.id}`,
      ),
      h(
        "button",
        {
          type: "button",
          class: "copy-link",
          "aria-label": `Copy link to ${statusPage.title || statusPage.id}`,
          onclick: async () => {
            toast((await copyText(address)) ? "Link copied" : `Copy this link: ${address}`, "ok");
          },
        },
        "Copy link",
      ),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Monitors"),
      h(
        "dd",
        null,
        names.length
          ? names.slice(0, SHOWN_MONITORS).join(", ") + more
          : h("span", { class: "muted" }, "none by name"),
      ),
      h("dt", null, "Tags"),
      h(
        "dd",
        null,
        statusPage.tags?.length
          ? statusPage.tags.map((tag) => h("span", { class: "tag-badge" }, tag))
          : h("span", { class: "muted" }, "none"),
      ),
      h("dt", null, "Latency"),
      h("dd", null, statusPage.show_latency === false ? "hidden" : "shown"),
    ),
  ];
}

function form(statusPage) {
  const title = h("input", { name: "title", value: statusPage?.title || "", required: true });
  const description = h(
    "textarea",
    { name: "description", rows: 3 },
    statusPage?.description || "",
  );
  const monitorsPick = monitorChooser(
    "monitors",
    "Monitors",
    statusPage?.monitors || [],
    "Search by name, id or tag.",
  );
  const tagsPick = tagChooser(
    "tags",
    "Tags",
    statusPage?.tags || [],
    "Every monitor carrying one of these tags is shown too.",
  );
  const latency = checkboxField(
    "Show latency",
    "show_latency",
    statusPage ? statusPage.show_latency !== false : true,
  );
  return {
    fields: [
      field("Title", title),
      field("Description", description, "Shown under the title."),
      monitorsPick.element,
      tagsPick.element,
      latency.element,
    ],
    focus: title,
    read() {
      return {
        title: title.value.trim(),
        description: optional(description.value) ?? "",
        monitors: monitorsPick.value(),
        tags: tagsPick.value(),
        show_latency: latency.input.checked,
      };
    },
  };
}
