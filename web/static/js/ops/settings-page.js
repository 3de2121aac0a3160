// One page for one kind of alert setting: the list, a form to create or edit
// one, and deleting. Maintenance windows, channels, escalation policies and
// status pages are each this page with their own fields.
//
// A setting is a JSON object with an `id`. The page's form covers the common
// fields; whatever else a stored setting holds is shown as JSON under "Other
// fields", so saving never drops what the form does not know.

import { ApiError, Offline, all, del, post, put, seg } from "../api.js";
import { field, fill, h, showFieldProblems, toast } from "../dom.js";
import { canChange } from "./kit.js";

/**
 * Mount a settings page into root. spec:
 *   title, intro: the heading and a sentence under it
 *   path ("/maintenance"), key (the list's key in the answer), noun
 *   idHint: what an id may be
 *   known: the fields the form covers (besides id)
 *   summary(setting): what a list item shows
 *   form(setting or null): {fields: [nodes], read(): the covered fields}
 *   itemActions(setting, item): more buttons for a list item
 *   named(setting): the name a setting is shown by
 *   arrange(settings): the settings in the order the list shows them
 *     (default: as the API answers, by id)
 * Returns {ready (a promise: the first list shown), reload(), settings()}.
 */
export function settingsPage(root, context, spec) {
  const writable = canChange(context.user);
  let settings = [];
  let editing = null;

  const newButton = writable
    ? h(
        "button",
        { type: "button", class: "primary", onclick: () => openEditor(null) },
        `New ${spec.noun}`,
      )
    : null;
  const editorHolder = h("section", { class: "card setting-editor", hidden: true });
  const status = h("p", { class: "muted", role: "status" }, "Loading…");
  const list = h("ul", { class: "setting-list", "aria-label": spec.title });

  append(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, spec.title),
      h("div", { class: "actions" }, newButton),
    ),
    spec.intro ? h("p", { class: "muted page-intro" }, spec.intro) : null,
    writable
      ? null
      : h("p", { class: "muted small" }, "Your role may read these settings, not change them."),
    editorHolder,
    status,
    list,
  );

  const named = (setting) => (spec.named ? spec.named(setting) : setting.name) || setting.id;

  async function reload() {
    try {
      settings = await all(spec.path, spec.key);
      if (spec.arrange) settings = spec.arrange(settings);
    } catch (error) {
      status.textContent = failureText(error);
      status.classList.add("problem");
      return;
    }
    status.classList.remove("problem");
    status.textContent = settings.length ? "" : `No ${spec.noun}s yet.`;
    status.hidden = settings.length > 0;
    fill(list, settings.map(renderItem));
  }

  function renderItem(setting) {
    const actions = h("div", { class: "actions setting-actions" });
    const item = h(
      "li",
      { class: "card setting-item", dataset: { settingId: setting.id } },
      h(
        "div",
        { class: "setting-head" },
        h("h2", null, named(setting)),
        named(setting) !== setting.id ? h("code", { class: "muted small" }, setting.id) : null,
      ),
      h("div", { class: "setting-summary" }, spec.summary(setting)),
      actions,
    );
    if (writable) {
      actions.append(
        h(
          "button",
          {
            type: "button",
            class: "edit-button",
            "aria-label": `Edit ${named(setting)}`,
            onclick: () => openEditor(setting),
          },
          "Edit",
        ),
      );
    }
    if (spec.itemActions) {
      actions.append(...[spec.itemActions(setting, item)].flat().filter(Boolean));
    }
    if (writable) actions.append(deleteButton(setting));
    return item;
  }

  function deleteButton(setting) {
    const button = h(
      "button",
      { type: "button", class: "danger", "aria-label": `Delete ${named(setting)}` },
      "Delete",
    );
    button.addEventListener("click", () => {
      const confirm = h(
        "div",
        { class: "confirm", role: "group", "aria-label": `Delete ${named(setting)}?` },
        h("span", null, `Delete ${named(setting)}?`),
        h(
          "button",
          {
            type: "button",
            class: "danger confirm-delete",
            onclick: async (event) => {
              event.currentTarget.disabled = true;
              try {
                await del(`${spec.path}/${seg(setting.id)}`);
                toast(`Deleted ${named(setting)}`, "ok");
                if (editing === setting.id) closeEditor();
                await reload();
                newButton?.focus();
              } catch (error) {
                toast(failureText(error), "error");
                confirm.replaceWith(button);
                button.focus();
              }
            },
          },
          "Yes, delete",
        ),
        h(
          "button",
          {
            type: "button",
            onclick: () => {
              confirm.replaceWith(button);
              button.focus();
            },
          },
          "Cancel",
        ),
      );
      button.replaceWith(confirm);
      confirm.querySelector(".confirm-delete").focus();
    });
    return button;
  }

  function openEditor(setting) {
    editing = setting ? setting.id : "";
    const creating = setting === null;
    const idInput = h("input", {
      name: "id",
      required: true,
      autocomplete: "off",
      spellcheck: "false",
      value: setting?.id || "",
      readonly: !creating,
    });
    const parts = spec.form(setting);
    const extra = otherFields(setting, spec.known);
    const extraInput = h("textarea", { name: "_extra", rows: 4, spellcheck: "false" }, extra);
    const problems = h("div", { class: "form-problems", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "primary" }, creating ? "Create" : "Save");
    const form = h(
      "form",
      {
        class: "setting-form",
        novalidate: true,
        "aria-label": creating ? `New ${spec.noun}` : `Edit ${named(setting)}`,
      },
      h("h2", null, creating ? `New ${spec.noun}` : `Edit ${named(setting)}`),
      field(
        "Id",
        idInput,
        creating ? spec.idHint : "The id cannot change; delete and create again to rename.",
      ),
      parts.fields,
      h(
        "details",
        { class: "other-fields", open: extra !== "" },
        h("summary", null, "Other fields (JSON)"),
        field(
          "Fields this form does not cover",
          extraInput,
          'A JSON object merged into what is saved, e.g. {"field": "value"}.',
        ),
      ),
      problems,
      h(
        "div",
        { class: "actions" },
        save,
        h("button", { type: "button", onclick: closeEditor }, "Cancel"),
      ),
    );
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !event.defaultPrevented) closeEditor();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let extraFields;
      try {
        extraFields = extraInput.value.trim() ? JSON.parse(extraInput.value) : {};
        if (!extraFields || typeof extraFields !== "object" || Array.isArray(extraFields)) {
          throw new Error("must be a JSON object");
        }
      } catch (error) {
        showFieldProblems(form, {
          message: "",
          fields: [{ field: "_extra", problem: `not a JSON object: ${error.message}` }],
        });
        extraInput.closest("details").open = true;
        extraInput.focus();
        return;
      }
      const body = { ...extraFields, ...parts.read(), id: idInput.value.trim() };
      save.disabled = true;
      try {
        const saved = creating
          ? await post(spec.path, body)
          : await put(`${spec.path}/${seg(setting.id)}`, body);
        toast(`Saved ${named(saved)}`, "ok");
        closeEditor();
        await reload();
        list.querySelector(`[data-setting-id="${CSS.escape(saved.id)}"] .edit-button`)?.focus();
      } catch (error) {
        showProblems(form, error);
      } finally {
        save.disabled = false;
      }
    });

    fill(editorHolder, form);
    editorHolder.hidden = false;
    editorHolder.scrollIntoView({ block: "start" });
    (creating
      ? idInput
      : parts.focus || form.querySelector("input:not([readonly]), select, textarea")
    )?.focus();
  }

  function closeEditor() {
    const was = editing;
    editing = null;
    editorHolder.hidden = true;
    editorHolder.replaceChildren();
    const back = was
      ? list.querySelector(`[data-setting-id="${CSS.escape(was)}"] .edit-button`)
      : newButton;
    back?.focus();
  }

  const ready = reload().then(() => {
    const wanted = context.query.get("edit");
    if (wanted && writable) {
      const found = settings.find((setting) => setting.id === wanted);
      if (found) openEditor(found);
    } else if (context.query.get("new") && writable) {
      openEditor(null);
    }
  });

  return { ready, reload, settings: () => settings };
}

/** Append the given nodes, leaving out those that are null. */
function append(node, ...children) {
  node.append(...children.filter((child) => child !== null && child !== undefined));
}

/** A stored setting's fields the form does not cover, as JSON ("" for none). */
function otherFields(setting, known) {
  if (!setting) return "";
  const covered = new Set(["id", ...known]);
  const rest = Object.fromEntries(Object.entries(setting).filter(([key]) => !covered.has(key)));
  return Object.keys(rest).length ? JSON.stringify(rest, null, 2) : "";
}

/** Put a refusal next to the fields it names, or at the top of the form. */
export function showProblems(form, error) {
  if (error instanceof ApiError) {
    if (error.status === 409 && !error.fields.length) {
      showFieldProblems(form, { message: "", fields: [{ field: "id", problem: error.message }] });
    } else {
      showFieldProblems(form, error);
    }
  } else {
    showFieldProblems(form, { message: failureText(error), fields: [] });
  }
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
  else form.querySelector(".form-problems")?.scrollIntoView({ block: "nearest" });
}

/** What to tell people when a request failed. */
export function failureText(error) {
  if (error instanceof Offline) return "The server cannot be reached.";
  if (error instanceof ApiError) {
    if (error.status === 403) return "Your role may not do this.";
    return error.message;
  }
  return error?.message || String(error);
}

/** A checkbox with its label beside it, in a field wrapper named for the API. */
export function checkboxField(label, name, checked, hint) {
  const input = h("input", { type: "checkbox", name, checked: Boolean(checked) });
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  input.id = id;
  input.setAttribute("aria-describedby", `${id}-problem`);
  return {
    input,
    element: h(
      "div",
      { class: "field checkbox-field", dataset: { field: name } },
      h("label", { for: id }, input, " ", label),
      hint ? h("p", { class: "field-hint" }, hint) : null,
      h("p", { class: "field-problem", id: `${id}-problem`, role: "alert", hidden: true }),
    ),
  };
}

/** A text value or undefined when it is empty, so the API's default applies. */
export function optional(text) {
  const value = (text ?? "").trim();
  return value === "" ? undefined : value;
}
