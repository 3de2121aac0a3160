// Escalation policies: who is told about an incident nobody acknowledges, and when.
//
// A policy is a ladder of levels, each naming channels and a delay after the
// level before (the first after the incident opens). Routes name the policy
// their incidents climb.

import { all } from "../api.js";
import { field, h, useStyles } from "../dom.js";
import { chooser, formatDuration } from "../ops/kit.js";
import { optional, settingsPage } from "../ops/settings-page.js";

export async function mount(root, params, context) {
  await useStyles("ops");
  const [channels, routes] = await Promise.all([
    all("/channels", "channels").catch(() => []),
    all("/routes", "routes").catch(() => []),
  ]);
  const channelNames = new Map(channels.map((channel) => [channel.id, channel.name || channel.id]));
  const known = { channels, channelNames, routes };

  const page = settingsPage(root, context, {
    title: "Escalation policies",
    intro:
      "An incident nobody acknowledges climbs its policy's levels as their delays pass; acknowledging stops the climb.",
    path: "/escalation-policies",
    key: "escalation_policies",
    noun: "escalation policy",
    idHint: "Letters, digits, '.', '_' or '-', e.g. oncall.",
    known: ["name", "levels", "repeat", "ack_timeout"],
    summary: (policy) => summary(policy, known),
    form: (policy) => form(policy, known),
  });
  await page.ready;
}

function channelLabel(known, id) {
  return known.channelNames.get(id) || id;
}

function summary(policy, known) {
  const users = known.routes.filter((route) => route.escalation === policy.id);
  return [
    h(
      "ol",
      { class: "levels" },
      (policy.levels || []).map((level, at) =>
        h(
          "li",
          null,
          h(
            "span",
            { class: "level-delay" },
            at === 0 ? "After " : "Then after ",
            formatDuration(level.delay) || "0s",
          ),
          ": ",
          (level.channels || []).map((id) =>
            h("span", { class: "tag-badge" }, channelLabel(known, id)),
          ),
        ),
      ),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Repeats"),
      h(
        "dd",
        null,
        policy.repeat ? `${policy.repeat} more time${policy.repeat === 1 ? "" : "s"}` : "no",
      ),
      h("dt", null, "Acknowledgements last"),
      h("dd", null, policy.ack_timeout ? formatDuration(policy.ack_timeout) : "until resolved"),
      h("dt", null, "Used by routes"),
      h(
        "dd",
        null,
        users.length
          ? users.map((route) => route.name || route.id).join(", ")
          : h("span", { class: "muted" }, "none yet: no incident climbs it"),
      ),
    ),
  ];
}

function form(policy, known) {
  const name = h("input", { name: "name", value: policy?.name || "" });
  const repeat = h("input", {
    name: "repeat",
    type: "number",
    min: 0,
    max: 100,
    value: policy?.repeat ?? 0,
  });
  const ackTimeout = h("input", {
    name: "ack_timeout",
    value: policy?.ack_timeout ? formatDuration(policy.ack_timeout) : "",
    spellcheck: "false",
  });

  let levels = (policy?.levels || [{ channels: [], delay: 0 }]).map((level) => ({
    channels: [...(level.channels || [])],
    delay: formatDuration(level.delay ?? 0),
  }));
  let rows = [];
  const ladder = h("div", { class: "level-list" });
  const addButton = h("button", { type: "button" }, "Add a level");

  function channelOptions(text) {
    return known.channels
      .filter(
        (channel) => !text || `${channel.id} ${channel.name || ""}`.toLowerCase().includes(text),
      )
      .map((channel) => ({
        value: channel.id,
        label: channel.name || channel.id,
        hint: channel.kind,
      }));
  }

  function keep() {
    levels = rows.map((row) => ({ channels: row.channels.value(), delay: row.delay.value }));
  }

  function render(focusAt = null) {
    rows = levels.map((level, at) => {
      const delay = h("input", {
        name: `levels[${at}].delay`,
        value: level.delay,
        spellcheck: "false",
      });
      const channels = chooser({
        name: `levels[${at}].channels`,
        label: "Channels",
        values: level.channels,
        options: channelOptions,
        labelOf: (id) => channelLabel(known, id),
        hint: known.channels.length
          ? null
          : "No channels yet: create one on the Channels page first.",
      });
      const remove = h(
        "button",
        {
          type: "button",
          class: "danger",
          disabled: levels.length === 1,
          "aria-label": `Remove level ${at + 1}`,
          onclick: () => {
            keep();
            levels.splice(at, 1);
            render(Math.max(0, at - 1));
          },
        },
        "Remove",
      );
      const element = h(
        "fieldset",
        { class: "level" },
        h("legend", null, `Level ${at + 1}`),
        h(
          "div",
          { class: "form-row" },
          field(
            at === 0 ? "Delay after the incident opens" : "Delay after the level before",
            delay,
            "e.g. 0s, 15m",
          ),
          channels.element,
        ),
        h("div", { class: "actions" }, remove),
      );
      return { element, delay, channels };
    });
    ladder.replaceChildren(...rows.map((row) => row.element));
    if (focusAt !== null) rows[focusAt]?.delay.focus();
  }

  addButton.addEventListener("click", () => {
    keep();
    levels.push({ channels: [], delay: "15m" });
    render(levels.length - 1);
  });
  render();

  return {
    fields: [
      field("Name", name, policy ? null : "Leave empty to use the id."),
      h(
        "div",
        { class: "field levels-field", dataset: { field: "levels" } },
        h("h3", null, "Levels"),
        // First in the wrapper, so problems with the whole list land here
        // and not at a level's own fields.
        h("p", { class: "field-problem", role: "alert", hidden: true }),
        ladder,
        addButton,
      ),
      h(
        "div",
        { class: "form-row" },
        field(
          "Climb again",
          repeat,
          "How many more times the ladder is climbed after the last level (0-100).",
        ),
        field(
          "Acknowledgements last",
          ackTimeout,
          "e.g. 1h; empty: until the incident is resolved.",
        ),
      ),
    ],
    focus: name,
    read() {
      keep();
      const repeatValue = repeat.value.trim();
      return {
        name: optional(name.value),
        levels: levels.map((level) => ({ channels: level.channels, delay: optional(level.delay) })),
        repeat:
          repeatValue === ""
            ? undefined
            : Number.isInteger(Number(repeatValue))
              ? Number(repeatValue)
              : repeatValue,
        ack_timeout: optional(ackTimeout.value),
      };
    },
  };
}
