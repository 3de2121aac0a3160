// Importing a monitor file (all or nothing) and exporting every monitor as one.

import { ApiError, request, seg } from "../api.js";
import { field, fill, h, showFieldProblems, toast, useStyles } from "../dom.js";

/** Files larger than this are sent as read, without copying them into the text box. */
const SHOWN_FILE_BYTES = 256 * 1024;
const LISTED_OUTCOMES = 200;

export async function mount(root) {
  await useStyles("monitor");
  const page = new ImportPage();
  root.append(page.render());
  return () => page.stop();
}

/** The body to send and its content type: JSON when the text parses as JSON, else YAML. */
export function applyBody(text) {
  try {
    const document = JSON.parse(text);
    const wrapped = Array.isArray(document) ? { monitors: document } : document;
    return { text: JSON.stringify(wrapped), contentType: "application/json" };
  } catch {
    return { text, contentType: "application/yaml" };
  }
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

class ImportPage {
  constructor() {
    this.fileText = null;
    this.urls = [];
  }

  render() {
    this.file = h("input", {
      type: "file",
      name: "file",
      accept: ".yaml,.yml,.json,application/json,application/yaml,text/yaml",
      onchange: () => this.readFile(),
    });
    this.text = h("textarea", {
      name: "body",
      rows: 14,
      spellcheck: "false",
      class: "json-input",
      placeholder: [
        "monitors:",
        "  - name: Billing API",
        "    kind: http",
        "    target: https://billing.example.com/health",
        "    interval: 30s",
      ].join("\n"),
      oninput: () => {
        this.fileText = null;
        this.fileNote.textContent = "";
      },
    });
    this.fileNote = h("p", { class: "small muted", id: "file-note", "aria-live": "polite" });
    this.problems = h("div", {
      class: "form-problems",
      role: "alert",
      tabindex: "-1",
      hidden: true,
    });
    this.submit = h("button", { type: "submit", class: "primary", id: "apply-button" }, "Apply");
    this.outcome = h("div", {
      class: "import-outcome",
      id: "import-outcome",
      "aria-live": "polite",
    });

    this.form = h(
      "form",
      {
        class: "import-form",
        id: "import-form",
        novalidate: true,
        onsubmit: (event) => this.apply(event),
      },
      field("Monitor file (YAML or JSON)", this.file),
      this.fileNote,
      field(
        "Or paste the definitions",
        this.text,
        "A list of monitors, or {monitors: [...]}, as in upcast apply.",
      ),
      this.problems,
      h("div", { class: "actions" }, this.submit),
    );
    this.form.addEventListener("dragover", (event) => event.preventDefault());
    this.form.addEventListener("drop", (event) => this.dropped(event));

    this.exportTags = h("input", { name: "tags", autocomplete: "off", spellcheck: "false" });
    return h(
      "div",
      { class: "import-page" },
      h("div", { class: "page-head" }, h("h1", null, "Import and export monitors")),
      h(
        "section",
        { class: "card import-card", "aria-labelledby": "import-title" },
        h("h2", { id: "import-title" }, "Import"),
        h(
          "p",
          { class: "muted" },
          "Creates the monitors that are new and replaces those whose id exists. ",
          "All or nothing: when one definition is bad, nothing changes ",
          "and every problem is listed. ",
          "Secrets shown as ******** keep their stored values.",
        ),
        this.form,
        this.outcome,
      ),
      h(
        "section",
        { class: "card import-card", "aria-labelledby": "export-title" },
        h("h2", { id: "export-title" }, "Export"),
        h(
          "p",
          { class: "muted" },
          "Every monitor's definition as one file, ready for upcast apply or this page. ",
          "Secrets are written as ********.",
        ),
        field(
          "Only monitors with one of these tags",
          this.exportTags,
          "Optional, separated by commas.",
        ),
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              id: "export-yaml",
              onclick: (event) => this.download("yaml", event.currentTarget),
            },
            "Export as YAML",
          ),
          h(
            "button",
            {
              type: "button",
              id: "export-json",
              onclick: (event) => this.download("json", event.currentTarget),
            },
            "Export as JSON",
          ),
        ),
      ),
    );
  }

  stop() {
    for (const url of this.urls) URL.revokeObjectURL(url);
  }

  async readFile(file = this.file.files[0]) {
    if (!file) return;
    const text = await file.text();
    if (file.size <= SHOWN_FILE_BYTES) {
      this.text.value = text;
      this.fileText = null;
      this.fileNote.textContent = `${file.name} is loaded below; check it, then apply.`;
    } else {
      this.text.value = "";
      this.fileText = text;
      const size = Math.round(file.size / 1024).toLocaleString();
      this.fileNote.textContent = `${file.name} (${size} KiB) is ready to apply.`;
    }
  }

  dropped(event) {
    const file = event.dataTransfer?.files?.[0];
    if (!file) return;
    event.preventDefault();
    this.readFile(file);
  }

  async apply(event) {
    event.preventDefault();
    const text = this.fileText ?? this.text.value;
    fill(this.outcome);
    if (!text.trim()) {
      showFieldProblems(this.form, {
        message: "Choose a file or paste some definitions first.",
        fields: [],
      });
      this.problems.hidden = false;
      this.text.focus();
      return;
    }
    const body = applyBody(text);
    this.submit.disabled = true;
    this.submit.textContent = "Applying…";
    try {
      const answer = await request("POST", "/apply", body);
      showFieldProblems(this.form, { message: "", fields: [] });
      this.problems.hidden = true;
      this.showApplied(answer);
    } catch (error) {
      this.showRefused(error);
    } finally {
      this.submit.disabled = false;
      this.submit.textContent = "Apply";
    }
  }

  showApplied(answer) {
    const changed = answer.monitors.filter((item) => item.outcome !== "unchanged");
    const listed = changed.slice(0, LISTED_OUTCOMES);
    fill(
      this.outcome,
      h(
        "p",
        { class: "import-counts", id: "import-counts" },
        h("strong", null, "Applied: "),
        h("span", { dataset: { count: "created" } }, `${answer.created.toLocaleString()} created`),
        ", ",
        h("span", { dataset: { count: "updated" } }, `${answer.updated.toLocaleString()} updated`),
        ", ",
        h(
          "span",
          { dataset: { count: "unchanged" } },
          `${answer.unchanged.toLocaleString()} unchanged`,
        ),
        ".",
      ),
      listed.length
        ? h(
            "ul",
            { class: "import-list" },
            listed.map((item) =>
              h(
                "li",
                null,
                h("a", { href: `#/monitors/${seg(item.id)}` }, item.id),
                ` ${item.outcome}`,
              ),
            ),
          )
        : null,
      changed.length > listed.length
        ? h(
            "p",
            { class: "muted small" },
            `and ${plural(changed.length - listed.length, "more monitor")}.`,
          )
        : null,
    );
    toast(`Applied: ${answer.created} created, ${answer.updated} updated.`, "ok");
  }

  showRefused(error) {
    if (!(error instanceof ApiError)) {
      this.problems.hidden = false;
      fill(this.problems, "The server cannot be reached; nothing was applied.");
      this.problems.focus();
      return;
    }
    const fields = error.fields || [];
    this.problems.hidden = false;
    fill(
      this.problems,
      h(
        "p",
        null,
        fields.length
          ? `Nothing was applied: ${plural(fields.length, "problem")}.`
          : `Nothing was applied: ${error.message}`,
      ),
      fields.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "problem-table", id: "import-problems" },
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  h("th", { scope: "col" }, "Field"),
                  h("th", { scope: "col" }, "Problem"),
                ),
              ),
              h(
                "tbody",
                null,
                fields.map((item) =>
                  h(
                    "tr",
                    null,
                    h("td", null, h("code", null, item.field || "(the file)")),
                    h("td", null, item.problem),
                  ),
                ),
              ),
            ),
          )
        : null,
    );
    this.problems.focus();
  }

  async download(format, button) {
    button.disabled = true;
    try {
      const tags = this.exportTags.value.trim();
      const response = await request("GET", "/monitors/export", {
        query: { format, tags: tags || undefined },
        raw: true,
      });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      this.urls.push(url);
      const day = new Date().toISOString().slice(0, 10);
      const link = h("a", {
        href: url,
        download: `upcast-monitors-${day}.${format}`,
        hidden: true,
      });
      document.body.append(link);
      link.click();
      link.remove();
      toast(`The monitors were exported as ${format.toUpperCase()}.`, "ok");
    } catch (error) {
      toast(
        error instanceof ApiError
          ? `Export failed: ${error.message}`
          : "Export failed: the server cannot be reached.",
        "error",
      );
    } finally {
      button.disabled = false;
    }
  }
}
