// Creating and editing a monitor: the common fields, the chosen kind's
// options, and the rest of the definition as JSON.
//
// Every input is named after the API's path for its value (`interval`,
// `options.method`), so the API's field problems land next to their inputs.
// Editing starts from the stored definition and sends it whole (PUT): what
// the form does not show travels in the JSON box, and secrets, which the API
// shows as a placeholder, are sent back as that placeholder so the server
// keeps them.

import { ApiError, get, post, put, seg } from "../api.js";
import { field, fill, h, showFieldProblems, toast, useStyles } from "../dom.js";
import { KINDS, formatDuration, kindOf } from "../monitor-kinds.js";

const OTHER = "other";
const PRIORITIES = ["critical", "normal", "low"];
/** Fields of the definition that the form's own inputs edit. */
const SHOWN_FIELDS = new Set([
  "id",
  "name",
  "kind",
  "target",
  "interval",
  "timeout",
  "retries",
  "retry_interval",
  "tags",
  "priority",
  "enabled",
  "description",
  "depends_on",
  "options",
]);

export async function mount(root, params, { navigate }) {
  await useStyles("monitor");
  const editing = params.id !== undefined;
  let stored = null;
  if (editing) {
    try {
      stored = await get(`/monitors/${seg(params.id)}`);
    } catch (error) {
      fill(
        root,
        h("h1", null, "Edit monitor"),
        h(
          "p",
          { class: "problem" },
          error instanceof ApiError && error.status === 404
            ? `There is no monitor "${params.id}".`
            : `The monitor could not be loaded: ${error.message}`,
        ),
        h("p", null, h("a", { href: "#/" }, "Back to the overview")),
      );
      return;
    }
  }
  const form = new MonitorForm(stored, navigate);
  root.append(form.render());
  form.focusFirst();
}

function isBlank(value) {
  return value === undefined || value === null || value === "";
}

function commaList(text) {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A check box with its label beside it, shaped like dom.field for field problems. */
function checkField(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  input.setAttribute("aria-describedby", `${id}-problem`);
  return h(
    "div",
    { class: "field field-check", dataset: { field: input.name } },
    h("div", { class: "check-line" }, input, h("label", { for: id }, label)),
    hint ? h("p", { class: "field-hint" }, hint) : null,
    h("p", { class: "field-problem", id: `${id}-problem`, role: "alert", hidden: true }),
  );
}

/** Objects merged key by key, `over` winning; other values are replaced. */
function deepMerge(base, over) {
  const merged = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const kept = merged[key];
    const bothObjects =
      value &&
      kept &&
      typeof value === "object" &&
      typeof kept === "object" &&
      !Array.isArray(value) &&
      !Array.isArray(kept);
    merged[key] = bothObjects ? deepMerge(kept, value) : value;
  }
  return merged;
}

/** One option's input for a kind, and how to read it back. */
class OptionInput {
  constructor([name, label, type, extra = {}], value) {
    this.name = name;
    this.type = type;
    this.extra = extra;
    this.wasSet = !isBlank(value);
    const inputName = `options.${name}`;
    if (type === "select") {
      this.input = h(
        "select",
        { name: inputName },
        h("option", { value: "" }, `Default: ${extra.blank}`),
        extra.choices.map((choice) => h("option", { value: choice }, choice)),
      );
      this.input.value = isBlank(value) ? "" : String(value);
    } else if (type === "check") {
      this.input = h("input", {
        type: "checkbox",
        name: inputName,
        checked: isBlank(value) ? extra.default : Boolean(value),
      });
    } else if (type === "area") {
      this.input = h("textarea", { name: inputName, rows: 4 });
      this.input.value = isBlank(value) ? "" : String(value);
    } else {
      this.input = h("input", {
        name: inputName,
        type: type === "number" ? "number" : type === "secret" ? "password" : "text",
        autocomplete: "off",
        spellcheck: "false",
        inputmode: type === "number" ? "decimal" : null,
        step: type === "number" ? "any" : null,
      });
      this.input.value = this.shown(value);
    }
    const hint = type === "secret" ? "Left as ******** it keeps the stored value." : extra.hint;
    this.field =
      type === "check" ? checkField(label, this.input, hint) : field(label, this.input, hint);
  }

  shown(value) {
    if (isBlank(value)) return "";
    if (Array.isArray(value)) return value.join(", ");
    if (this.type === "duration") return formatDuration(value);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  /** The option's value to send, or undefined to leave it out. */
  value() {
    const input = this.input;
    if (this.type === "check") {
      return input.checked === this.extra.default && !this.wasSet ? undefined : input.checked;
    }
    const text = this.type === "area" || this.type === "secret" ? input.value : input.value.trim();
    if (text === "") return undefined;
    if (this.type === "number") {
      const number = Number(text);
      return Number.isFinite(number) ? number : text;
    }
    if (this.type === "list") return commaList(text);
    if (this.type === "status") {
      const items = commaList(text).map((item) => (/^\d+$/.test(item) ? Number(item) : item));
      return items.length === 1 ? items[0] : items;
    }
    return text;
  }
}

class MonitorForm {
  constructor(stored, navigate) {
    this.stored = stored;
    this.navigate = navigate;
    this.editing = stored !== null;
    const known = stored ? kindOf(stored.kind) : KINDS[0];
    this.kindName = known ? known.kind : OTHER;
    this.optionSets = new Map();
  }

  render() {
    const stored = this.stored || {};
    this.problems = h("div", {
      class: "form-problems",
      role: "alert",
      tabindex: "-1",
      hidden: true,
    });

    this.name = h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" });
    this.name.value = stored.name || "";
    this.idInput = h("input", {
      name: "id",
      autocomplete: "off",
      spellcheck: "false",
      pattern: "[A-Za-z0-9._\\-]+",
      readonly: this.editing,
      oninput: () => this.kindName === "push" && this.describeTarget(),
    });
    this.idInput.value = stored.id || "";

    this.kind = h(
      "select",
      { name: "kind", onchange: () => this.switchKind(this.kind.value) },
      KINDS.map((kind) => h("option", { value: kind.kind }, kind.title)),
      h("option", { value: OTHER }, "Another kind…"),
    );
    this.kind.value = this.kindName;
    this.otherKind = h("input", { name: "kind-other", autocomplete: "off", spellcheck: "false" });
    this.otherKind.value = this.kindName === OTHER ? stored.kind || "" : "";
    this.otherField = field(
      "Kind name",
      this.otherKind,
      "A check kind installed as a plug-in (upcast kinds lists them).",
    );

    this.target = h("input", {
      name: "target",
      autocomplete: "off",
      spellcheck: "false",
      oninput: () => this.kindName === "push" && this.describeTarget(),
    });
    this.target.value = stored.target || "";
    this.targetField = field("Target", this.target, " ");

    this.interval = this.durationInput("interval", stored.interval);
    this.timeout = this.durationInput("timeout", stored.timeout);
    this.retryInterval = this.durationInput("retry_interval", stored.retry_interval);
    this.retries = h("input", {
      name: "retries",
      type: "number",
      min: 0,
      max: 10,
      step: 1,
      inputmode: "numeric",
    });
    this.retries.value = isBlank(stored.retries) ? "" : String(stored.retries);

    this.tags = h("input", { name: "tags", autocomplete: "off", spellcheck: "false" });
    this.tags.value = (stored.tags || []).join(", ");
    this.dependsOn = h("input", { name: "depends_on", autocomplete: "off", spellcheck: "false" });
    this.dependsOn.value = (stored.depends_on || []).join(", ");
    this.priority = h(
      "select",
      { name: "priority" },
      PRIORITIES.map((name) => h("option", { value: name }, name)),
    );
    this.priority.value = stored.priority || "normal";
    this.description = h("textarea", { name: "description", rows: 3, maxlength: 4000 });
    this.description.value = stored.description || "";
    this.enabled = h("input", {
      type: "checkbox",
      name: "enabled",
      checked: stored.enabled !== false,
    });

    this.optionsHolder = h("div", { class: "kind-options" });
    this.optionsLegend = h("legend");
    this.advanced = h("textarea", {
      name: "advanced",
      rows: 8,
      spellcheck: "false",
      class: "json-input",
    });
    const advancedField = field(
      "Other definition fields (JSON)",
      this.advanced,
      'A JSON object merged into the definition, e.g. {"options": {"headers": {"X-Env": "prod"}}}.',
    );
    // Problems with options the form has no input for are shown here.
    advancedField.dataset.field = "options";
    this.advancedBox = h(
      "details",
      { class: "advanced" },
      h("summary", null, "Advanced (JSON)"),
      advancedField,
    );

    this.submit = h(
      "button",
      { type: "submit", class: "primary", id: "save-monitor" },
      this.editing ? "Save changes" : "Create monitor",
    );
    const cancel = h(
      "a",
      { class: "button", href: this.editing ? `#/monitors/${seg(stored.id)}` : "#/" },
      "Cancel",
    );

    this.form = h(
      "form",
      {
        class: "monitor-form",
        id: "monitor-form",
        novalidate: true,
        onsubmit: (event) => this.save(event),
      },
      this.problems,
      h(
        "fieldset",
        { class: "card" },
        h("legend", null, "What to check"),
        field("Name", this.name, "What people see."),
        field("Kind", this.kind),
        this.otherField,
        this.targetField,
        field(
          "ID",
          this.idInput,
          this.editing
            ? "The id cannot be changed."
            : "Optional: letters, digits, ., _ and -. Made from the name when empty.",
        ),
      ),
      h("fieldset", { class: "card" }, this.optionsLegend, this.optionsHolder),
      h(
        "fieldset",
        { class: "card form-columns" },
        h("legend", null, "Schedule"),
        field("Interval", this.interval, "Between checks, 1s to 24h: 30s, 5m, 1h30m. Default 60s."),
        field("Timeout", this.timeout, "For one check, at most the interval. Default 10s."),
        field("Retries", this.retries, "Failed checks in a row before DOWN (0 to 10)."),
        field(
          "Retry interval",
          this.retryInterval,
          "Before the first retry; doubles each retry. Default 20s.",
        ),
      ),
      h(
        "fieldset",
        { class: "card form-columns" },
        h("legend", null, "Organise"),
        field("Tags", this.tags, "Separated by commas: prod, billing."),
        field("Depends on", this.dependsOn, "Ids of monitors this one needs, by commas."),
        field("Priority", this.priority, "Who goes first when a shard is saturated."),
        checkField("Enabled", this.enabled, "Unchecked, the monitor is paused."),
        h("div", { class: "span-all" }, field("Description", this.description)),
      ),
      this.advancedBox,
      h("div", { class: "actions form-actions" }, this.submit, cancel),
    );

    this.fillAdvanced();
    this.switchKind(this.kindName);
    return h(
      "div",
      { class: "monitor-form-page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", null, this.editing ? `Edit ${stored.name}` : "New monitor"),
        this.editing ? null : h("a", { href: "#/import" }, "Import a file of monitors instead"),
      ),
      this.form,
    );
  }

  durationInput(name, seconds) {
    const input = h("input", { name, autocomplete: "off", spellcheck: "false", placeholder: "" });
    input.value = formatDuration(seconds);
    return input;
  }

  focusFirst() {
    this.name.focus();
  }

  /** The stored options and fields that no input shows, as the JSON box's text. */
  fillAdvanced() {
    if (!this.stored) return;
    const extra = {};
    for (const [key, value] of Object.entries(this.stored)) {
      if (!SHOWN_FIELDS.has(key) && key !== "status") extra[key] = value;
    }
    const known = kindOf(this.stored.kind);
    const shownOptions = new Set((known?.options || []).map(([name]) => name));
    const options = {};
    for (const [key, value] of Object.entries(this.stored.options || {})) {
      if (!shownOptions.has(key)) options[key] = value;
    }
    if (Object.keys(options).length) extra.options = options;
    this.advanced.value = Object.keys(extra).length ? JSON.stringify(extra, null, 2) : "";
    this.advanced.rows = Math.min(24, Math.max(8, this.advanced.value.split("\n").length + 1));
    if (this.advanced.value) this.advancedBox.open = true;
  }

  switchKind(name) {
    this.kindName = name;
    const known = kindOf(name);
    this.otherField.hidden = name !== OTHER;

    this.describeTarget();

    if (!this.optionSets.has(name)) this.optionSets.set(name, this.optionInputs(known));
    const inputs = this.optionSets.get(name);
    this.optionsLegend.textContent = known ? `${known.title} options` : "Options";
    fill(
      this.optionsHolder,
      inputs.length
        ? inputs.map((option) => option.field)
        : h("p", { class: "muted" }, "This kind's options go in Advanced (JSON) below."),
    );
  }

  /** The target's label, hint and example for the chosen kind. */
  describeTarget() {
    const known = kindOf(this.kindName);
    const [label, hint, example] = known
      ? known.target
      : ["Target", "What to check; its form depends on the kind.", ""];
    this.targetField.querySelector("label").textContent = label;
    const token = this.target.value.trim() || this.idInput.value.trim() || "<token>";
    this.targetField.querySelector(".field-hint").textContent =
      this.kindName === "push" ? `${hint} The job pings ${location.origin}/push/${token}` : hint;
    this.target.placeholder = example;
  }

  /** Inputs for a kind's options, filled from the stored definition if it is that kind. */
  optionInputs(known) {
    if (!known) return [];
    const storedKind = this.stored ? kindOf(this.stored.kind) : null;
    const stored = storedKind === known ? this.stored.options || {} : {};
    return known.options.map((spec) => new OptionInput(spec, stored[spec[0]]));
  }

  /** The definition to send, or throws a local problem as {fields}. */
  definition() {
    let extra = {};
    const text = this.advanced.value.trim();
    if (text) {
      try {
        extra = JSON.parse(text);
      } catch (error) {
        throw { fields: [{ field: "options", problem: `not valid JSON: ${error.message}` }] };
      }
      if (!extra || typeof extra !== "object" || Array.isArray(extra)) {
        throw { fields: [{ field: "options", problem: "must be a JSON object" }] };
      }
    }

    const kind = this.kindName === OTHER ? this.otherKind.value.trim() : this.kindName;
    const storedKind = this.stored?.kind;
    const definition = {
      name: this.name.value.trim(),
      // An alias the monitor was stored with (https, ping) stays as it was.
      kind:
        storedKind && kindOf(storedKind) && kindOf(storedKind) === kindOf(kind) ? storedKind : kind,
      target: this.target.value.trim(),
      tags: commaList(this.tags.value),
      depends_on: commaList(this.dependsOn.value),
      priority: this.priority.value,
      enabled: this.enabled.checked,
    };
    const id = this.editing ? this.stored.id : this.idInput.value.trim();
    if (id) definition.id = id;
    for (const [key, input] of [
      ["interval", this.interval],
      ["timeout", this.timeout],
      ["retry_interval", this.retryInterval],
    ]) {
      if (input.value.trim()) definition[key] = input.value.trim();
    }
    if (this.retries.value.trim() !== "") {
      const retries = Number(this.retries.value);
      definition.retries = Number.isInteger(retries) ? retries : this.retries.value;
    }
    if (this.description.value.trim()) definition.description = this.description.value.trim();

    const options = {};
    for (const option of this.optionSets.get(this.kindName) || []) {
      const value = option.value();
      if (value !== undefined) options[option.name] = value;
    }
    definition.options = options;
    return deepMerge(definition, extra);
  }

  async save(event) {
    event.preventDefault();
    let body;
    try {
      body = this.definition();
    } catch (problem) {
      this.showProblems({ message: "", fields: problem.fields });
      return;
    }
    this.submit.disabled = true;
    try {
      const saved = this.editing
        ? await put(`/monitors/${seg(this.stored.id)}`, body)
        : await post("/monitors", body);
      toast(this.editing ? `${saved.name} was saved.` : `${saved.name} was created.`, "ok");
      this.navigate(`/monitors/${encodeURIComponent(saved.id)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        toast("The server cannot be reached; nothing was saved.", "error");
      } else if (error.status === 409 && !error.fields.length && !this.editing) {
        this.showProblems({
          message: error.message,
          fields: [{ field: "id", problem: error.message }],
        });
      } else {
        this.showProblems(error);
      }
    } finally {
      this.submit.disabled = false;
    }
  }

  /** Whether a problem at this path is shown at a parent's input, not its own. */
  shownAtParent(path) {
    const holds = (name) => this.form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (holds(path)) return false;
    let parent = path;
    for (;;) {
      const cut = Math.max(parent.lastIndexOf("."), parent.lastIndexOf("["));
      if (cut <= 0) return false;
      parent = parent.slice(0, cut);
      if (holds(parent)) return true;
    }
  }

  showProblems(error) {
    // A problem shown at a parent's input (options.headers in the JSON box,
    // tags[1] at the tags) says which part it is about.
    const fields = (error.fields || []).map(({ field: path, problem }) => ({
      field: path,
      problem: this.shownAtParent(path) ? `${path}: ${problem}` : problem,
    }));
    const left = showFieldProblems(this.form, { ...error, fields });
    // The JSON box is folded away at first; open it when it holds a problem.
    const advancedProblem = this.advancedBox.querySelector(".field-problem");
    if (advancedProblem && !advancedProblem.hidden) this.advancedBox.open = true;
    if (!error.fields?.length) {
      this.problems.hidden = false;
      fill(this.problems, error.message || "The monitor was not saved.");
    } else if (left.length) {
      this.problems.hidden = false;
    }
    const first = this.form.querySelector("[aria-invalid='true']");
    if (first) first.focus();
    else this.problems.focus();
  }
}
