// The account page: who is signed in, how the dashboard looks, where the
// account is signed in, its password, and (for admins) its API keys.

import { ApiError, Offline, all, del, get, logout, post, seg, session } from "../api.js";
import {
  field,
  fill,
  formatAgo,
  formatTime,
  h,
  showFieldProblems,
  toast,
  useStyles,
} from "../dom.js";
import { DEFAULT_ACCENT, preferences, readableOn, setPreferences } from "../prefs.js";

const THEMES = [
  ["system", "System"],
  ["light", "Light"],
  ["dark", "Dark"],
];

// Each reads well with white text (at least 4.5:1), so buttons stay legible.
const ACCENTS = [
  [DEFAULT_ACCENT, "Teal (default)"],
  ["#1d4ed8", "Blue"],
  ["#6d28d9", "Violet"],
  ["#be185d", "Pink"],
  ["#c2410c", "Orange"],
  ["#15803d", "Green"],
  ["#334155", "Slate"],
];

const KEY_MANAGERS = new Set(["admin", "owner"]);

const KEY_LIFETIMES = [
  ["30", "30 days"],
  ["90", "90 days"],
  ["365", "1 year"],
  ["", "Never expires"],
];

const READ_SCOPES = new Set(["monitors:read", "alerts:read"]);

export async function mount(root, params, context) {
  await useStyles("account");
  const cleanups = [];
  const user = context.user || session()?.user || {};

  const me = get("/auth/me");
  me.catch(() => {});
  const sessions = sessionsSection();
  const sections = [
    whoSection(user, me),
    appearanceSection(cleanups),
    sessions.node,
    passwordSection(user, () => sessions.load()),
  ];
  if (KEY_MANAGERS.has(user.role)) sections.push(keysSection(me));

  root.append(
    h("div", { class: "page-head" }, h("h1", null, "Account"), signOutButton("Sign out")),
    h("div", { class: "account-grid" }, sections),
  );
  return () => {
    for (const fn of cleanups) fn();
  };
}

// -- helpers ----------------------------------------------------------------

function section(title, ...children) {
  const id = `account-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h(
    "section",
    { class: "card account-section", "aria-labelledby": id },
    h("h2", { id }, title),
    ...children,
  );
}

function problemText(error) {
  if (error instanceof Offline) return "The server cannot be reached. Try again when online.";
  if (error instanceof ApiError) return error.message;
  return String(error?.message || error);
}

function signOutButton(label) {
  const button = h("button", { type: "button", class: "sign-out" }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    // The shell sees the session end and shows the sign-in page.
    await logout();
  });
  return button;
}

/**
 * A button that asks once more before doing something that cannot be undone:
 * the first press shows "question  [confirm] [Keep]" in its place.
 */
function confirmingButton(label, { question, confirm, ariaLabel, run }) {
  const holder = h("span", { class: "confirming" });
  const first = h("button", { type: "button", class: "danger", "aria-label": ariaLabel }, label);
  const yes = h("button", { type: "button", class: "danger" }, confirm);
  const keep = h("button", { type: "button" }, "Keep");
  const asking = h("span", { class: "confirm-question" }, h("span", null, question), yes, keep);

  const ask = (shown) => {
    fill(holder, shown ? asking : first);
    (shown ? yes : first).focus();
  };
  first.addEventListener("click", () => ask(true));
  keep.addEventListener("click", () => ask(false));
  asking.addEventListener("keydown", (event) => {
    if (event.key === "Escape") ask(false);
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await run();
    } catch (error) {
      toast(problemText(error), "error");
      yes.disabled = false;
    }
  });
  holder.append(first);
  return holder;
}

// -- who is signed in -------------------------------------------------------

function whoSection(user, me) {
  const details = h("dl", { class: "account-facts" });
  const show = (known) =>
    fill(
      details,
      h("dt", null, "Name"),
      h("dd", null, known.name || "–"),
      h("dt", null, "Role"),
      h("dd", null, known.role || "–"),
      h("dt", null, "Teams"),
      h("dd", null, known.teams?.length ? known.teams.join(", ") : "none"),
      known.created_at
        ? [h("dt", null, "Since"), h("dd", null, formatTime(known.created_at))]
        : null,
    );
  show(user);
  const problem = h("p", { class: "problem", hidden: true });
  me.then(
    (answer) => show(answer.user),
    (error) => {
      problem.hidden = false;
      problem.textContent = problemText(error);
    },
  );
  return section("Signed in", details, problem);
}

// -- appearance -------------------------------------------------------------

function appearanceSection(cleanups) {
  const chosenTheme = () => {
    const theme = preferences().theme;
    return theme === "light" || theme === "dark" ? theme : "system";
  };
  const chosenAccent = () => {
    const accent = preferences().accent;
    return /^#[0-9a-f]{6}$/i.test(accent || "") ? accent.toLowerCase() : DEFAULT_ACCENT;
  };

  const themes = h(
    "fieldset",
    { class: "theme-choice" },
    h("legend", null, "Theme"),
    THEMES.map(([value, label]) =>
      h(
        "label",
        { class: "theme-option" },
        h("input", {
          type: "radio",
          name: "theme",
          value,
          checked: chosenTheme() === value,
          onchange: () => {
            setPreferences({ theme: value });
            refresh(`Theme: ${label}`);
          },
        }),
        h("span", null, label),
      ),
    ),
  );

  const picker = h("input", {
    type: "color",
    name: "accent",
    id: "account-accent",
    value: chosenAccent(),
  });
  picker.addEventListener("input", () => pickAccent(picker.value, false));
  picker.addEventListener("change", () => pickAccent(picker.value, true));

  const swatches = ACCENTS.map(([colour, name]) =>
    h(
      "button",
      {
        type: "button",
        class: "swatch",
        "aria-label": name,
        title: name,
        dataset: { colour },
        onclick: () => pickAccent(colour, true),
      },
      h("span", { class: "swatch-colour", style: { background: colour } }),
    ),
  );

  const onAccentSample = h("span", { class: "contrast-sample" }, "Aa");
  const onAccentText = h("span", null);
  // An anchor without an address: styled as links are, but no stop for Tab.
  const linkSample = h("a", { class: "contrast-link" }, "A link");
  const linkText = h("span", null);
  const check = h(
    "div",
    { class: "contrast-check" },
    h("p", null, onAccentSample, onAccentText),
    h("p", null, linkSample, linkText),
  );
  // Said once a choice is made, not at every step of dragging in the picker.
  const announcer = h("p", { class: "account-sr-only", role: "status" });

  const node = section(
    "Appearance",
    themes,
    h(
      "fieldset",
      { class: "accent-choice" },
      h("legend", null, "Accent colour"),
      h(
        "div",
        { class: "accent-row" },
        h("div", { class: "swatches", role: "group", "aria-label": "Preset colours" }, swatches),
        h(
          "div",
          { class: "accent-custom" },
          h("label", { for: picker.id }, "Custom"),
          picker,
        ),
      ),
      check,
    ),
    announcer,
  );

  function pickAccent(colour, settled) {
    const accent = colour.toLowerCase();
    setPreferences({ accent });
    picker.value = accent;
    refresh(settled ? `Accent colour ${accent}` : null);
  }

  function refresh(said) {
    const accent = chosenAccent();
    for (const swatch of swatches) {
      swatch.setAttribute("aria-pressed", String(swatch.dataset.colour === accent));
    }
    const onAccent = readableOn(accent);
    const onAccentRatio = contrast(accent, onAccent);
    onAccentSample.style.background = accent;
    onAccentSample.style.color = onAccent;
    const textName = onAccent === "#000000" ? "black" : "white";
    onAccentText.textContent = ` Text on the accent (${textName}): ${verdict(onAccentRatio)}`;

    // Links are drawn from the accent, mixed with the text colour in the
    // dark theme: measured as the page shows them.
    const linkColour = cssColour(getComputedStyle(linkSample).color);
    const surface = cssColour(getComputedStyle(node).backgroundColor);
    const linkRatio = linkColour && surface ? contrast(linkColour, surface) : null;
    linkText.textContent = linkRatio ? ` Links on the page: ${verdict(linkRatio)}` : "";
    if (linkRatio !== null && linkRatio < 4.5) {
      linkText.textContent += "; a colour further from the background reads better";
    }
    onAccentText.parentNode.dataset.weak = String(onAccentRatio < 4.5);
    linkText.parentNode.dataset.weak = String(linkRatio !== null && linkRatio < 4.5);
    if (said) {
      const parts = [said, onAccentText.textContent, linkText.textContent];
      announcer.textContent = parts.map((part) => part.trim()).filter(Boolean).join(". ");
    }
  }

  const scheme = matchMedia("(prefers-color-scheme: dark)");
  const followSystem = () => refresh(null);
  scheme.addEventListener("change", followSystem);
  cleanups.push(() => scheme.removeEventListener("change", followSystem));
  // Measured once the section is on the page and styled.
  requestAnimationFrame(() => refresh(null));
  return node;
}

/** A WCAG contrast ratio and what it passes, as one short phrase. */
function verdict(ratio) {
  const shown = `${ratio.toFixed(2)}:1`;
  if (ratio >= 7) return `${shown}, passes AAA`;
  if (ratio >= 4.5) return `${shown}, passes AA`;
  if (ratio >= 3) return `${shown}, large text only`;
  return `${shown}, too low to read`;
}

function luminance([red, green, blue]) {
  const linear = (value) =>
    value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue);
}

/** The WCAG contrast ratio of two colours, each "#rrggbb" or [r, g, b] in 0..1. */
function contrast(first, second) {
  const [a, b] = [first, second].map((colour) =>
    luminance(typeof colour === "string" ? hexChannels(colour) : colour),
  );
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

function hexChannels(hex) {
  return [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16) / 255);
}

/**
 * A computed CSS colour as [r, g, b] in 0..1: "rgb(14, 116, 144)", or
 * "color(srgb 0.1 0.4 0.5)" as mixed colours are given. Null otherwise.
 */
function cssColour(text) {
  const numbers = (text.match(/[\d.]+/g) || []).map(Number);
  if (text.startsWith("rgb") && numbers.length >= 3) {
    return numbers.slice(0, 3).map((value) => value / 255);
  }
  if (text.startsWith("color(srgb") && numbers.length >= 3) return numbers.slice(0, 3);
  return null;
}

// -- sessions ---------------------------------------------------------------

function sessionsSection() {
  const list = h("ul", { class: "session-list", "aria-busy": "true" });
  const status = h("p", { class: "muted" }, "Loading…");
  const others = h("div", { class: "actions" });
  const node = section(
    "Sessions",
    h("p", { class: "muted small" }, "Where this account is signed in."),
    status,
    list,
    others,
  );

  async function load() {
    try {
      const found = await all("/auth/sessions", "sessions");
      show(found);
    } catch (error) {
      status.hidden = false;
      status.className = "problem";
      status.textContent = problemText(error);
    } finally {
      list.removeAttribute("aria-busy");
    }
  }

  function show(found) {
    const mine = session()?.sessionId;
    const isMine = (item) => item.current || item.id === mine;
    const ordered = [...found.filter(isMine), ...found.filter((item) => !isMine(item))];
    status.hidden = ordered.length > 0;
    status.className = "muted";
    status.textContent = "No active sessions.";
    fill(list, ordered.map((item) => sessionItem(item, isMine(item), () => remove(item))));

    const rest = ordered.filter((item) => !isMine(item));
    fill(
      others,
      rest.length
        ? confirmingButton("Sign out everywhere else", {
            question: `End ${rest.length} other session${rest.length === 1 ? "" : "s"}?`,
            confirm: "End them",
            run: async () => {
              await Promise.all(rest.map((item) => del(`/auth/sessions/${seg(item.id)}`)));
              toast("Every other session ended.", "ok");
              await load();
              node.querySelector("h2").focus();
            },
          })
        : null,
    );
  }

  async function remove(item) {
    await del(`/auth/sessions/${seg(item.id)}`);
    toast(`Signed out ${describeAgent(item.user_agent)}.`, "ok");
    await load();
    node.querySelector("h2").focus();
  }

  node.querySelector("h2").tabIndex = -1;
  load();
  return { node, load };
}

function sessionItem(item, mine, remove) {
  const device = describeAgent(item.user_agent);
  return h(
    "li",
    { class: "session", dataset: { session: item.id } },
    h(
      "div",
      { class: "session-text" },
      h(
        "p",
        { class: "session-device", title: item.user_agent || "" },
        device,
        mine ? h("span", { class: "this-device" }, "This device") : null,
      ),
      h(
        "p",
        { class: "muted small" },
        [
          item.address || "unknown address",
          `last seen ${formatAgo(item.last_seen_at)}`,
          `signed in ${formatTime(item.created_at)}`,
        ].join(" · "),
      ),
    ),
    mine
      ? signOutButton("Sign out")
      : confirmingButton("Sign out", {
          ariaLabel: `Sign out ${device}, last seen ${formatAgo(item.last_seen_at)}`,
          question: "End this session?",
          confirm: "End it",
          run: remove,
        }),
  );
}

/** A user agent as a person reads it: "Firefox on Linux". */
function describeAgent(agent) {
  if (!agent) return "Unknown device";
  const browser = [
    [/Edg\//, "Edge"],
    [/OPR\//, "Opera"],
    [/Firefox\//, "Firefox"],
    [/Chrom(e|ium)\//, "Chrome"],
    [/Safari\//, "Safari"],
  ].find(([pattern]) => pattern.test(agent))?.[1];
  const system = [
    [/Android/, "Android"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Windows/, "Windows"],
    [/CrOS/, "ChromeOS"],
    [/Mac OS X|Macintosh/, "macOS"],
    [/Linux/, "Linux"],
  ].find(([pattern]) => pattern.test(agent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser || system || agent.split(" ")[0].slice(0, 60);
}

// -- password ---------------------------------------------------------------

function passwordSection(user, reloadSessions) {
  const current = h("input", {
    type: "password",
    name: "current_password",
    autocomplete: "current-password",
    required: true,
  });
  const fresh = h("input", {
    type: "password",
    name: "new_password",
    autocomplete: "new-password",
    required: true,
  });
  const again = h("input", {
    type: "password",
    name: "confirm_password",
    autocomplete: "new-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Change password");
  const problems = h("div", { class: "form-problems", role: "alert", hidden: true });

  const form = h(
    "form",
    { class: "password-form", novalidate: true },
    // Lets a password manager know whose password this is.
    h("input", {
      type: "text",
      name: "username",
      autocomplete: "username",
      value: user.name || "",
      readonly: true,
      hidden: true,
    }),
    field("Current password", current),
    field(
      "New password",
      fresh,
      "At least 12 characters, not built on your name, and not a common password.",
    ),
    field("New password again", again),
    problems,
    h("div", { class: "actions" }, submit),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const missing = [
      [current, "current_password"],
      [fresh, "new_password"],
    ].filter(([input]) => !input.value);
    if (missing.length) {
      showFieldProblems(form, {
        fields: missing.map(([, name]) => ({ field: name, problem: "is required" })),
      });
      missing[0][0].focus();
      return;
    }
    if (fresh.value !== again.value) {
      showFieldProblems(form, {
        fields: [{ field: "confirm_password", problem: "does not match the new password" }],
      });
      again.focus();
      return;
    }

    submit.disabled = true;
    try {
      await post("/auth/password", {
        current_password: current.value,
        new_password: fresh.value,
      });
      form.reset();
      showFieldProblems(form, { fields: [] });
      problems.hidden = true;
      toast("Password changed. Your other sessions were signed out.", "ok");
      reloadSessions();
    } catch (error) {
      if (error instanceof ApiError && error.fields.length) {
        // The policy names the new password "password".
        const fields = error.fields.map((item) =>
          item.field === "password" ? { ...item, field: "new_password" } : item,
        );
        showFieldProblems(form, { message: error.message, fields });
        form.querySelector("[aria-invalid]")?.focus();
      } else {
        showFieldProblems(form, { message: problemText(error), fields: [] });
      }
    } finally {
      submit.disabled = false;
    }
  });

  return section("Password", form);
}

// -- API keys ---------------------------------------------------------------

function keysSection(me) {
  const list = h("ul", { class: "key-list" });
  const status = h("p", { class: "muted" }, "Loading…");
  const shown = h("div", { class: "key-shown", hidden: true });
  const form = newKeyForm(me, created);

  const node = section(
    "API keys",
    h(
      "p",
      { class: "muted small" },
      "For scripts and the command line. A key acts with its own scopes, never more than yours.",
    ),
    status,
    list,
    shown,
    h("h3", null, "New key"),
    form.node,
  );

  async function load() {
    try {
      const keys = (await all("/keys", "keys")).filter((key) => !key.revoked_at);
      status.hidden = keys.length > 0;
      status.className = "muted";
      status.textContent = "No keys yet.";
      fill(list, keys.map((key) => keyItem(key, () => revoke(key))));
    } catch (error) {
      status.hidden = false;
      status.className = "problem";
      status.textContent = problemText(error);
    }
  }

  async function revoke(key) {
    await del(`/keys/${seg(key.id)}`);
    toast(`Key ${key.name} revoked.`, "ok");
    await load();
    node.querySelector("h2").focus();
  }

  function created(answer) {
    const text = h("input", {
      type: "text",
      name: "new_key",
      readonly: true,
      value: answer.key,
      spellcheck: "false",
      autocomplete: "off",
    });
    const copy = h("button", { type: "button", class: "primary" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(answer.key);
        toast("Key copied.", "ok");
      } catch {
        text.select();
        toast("Select the key and copy it with Ctrl+C.", "info");
      }
    });
    const done = h("button", { type: "button" }, "Done");
    done.addEventListener("click", () => {
      shown.hidden = true;
      shown.replaceChildren();
      form.focus();
    });
    fill(
      shown,
      h(
        "p",
        null,
        h("strong", null, `Key ${answer.name} made. `),
        "Copy it now: it is not shown again.",
      ),
      field("The new key", text),
      h("div", { class: "actions" }, copy, done),
    );
    shown.hidden = false;
    text.focus();
    text.select();
    load();
  }

  node.querySelector("h2").tabIndex = -1;
  load();
  return node;
}

function keyItem(key, revoke) {
  const now = Date.now() / 1000;
  const expired = key.expires_at && key.expires_at <= now;
  return h(
    "li",
    { class: "key", dataset: { key: key.id } },
    h(
      "div",
      { class: "key-text" },
      h(
        "p",
        { class: "key-name" },
        key.name,
        expired ? h("span", { class: "key-expired" }, "Expired") : null,
      ),
      h(
        "p",
        { class: "key-scopes" },
        key.scopes.map((scope) => h("code", null, scope)),
      ),
      h(
        "p",
        { class: "muted small" },
        [
          `made ${formatAgo(key.created_at)}`,
          key.expires_at
            ? `${expired ? "expired" : "expires"} ${formatTime(key.expires_at)}`
            : "never expires",
          `last used ${formatAgo(key.last_used_at)}`,
        ].join(" · "),
      ),
    ),
    confirmingButton("Revoke", {
      ariaLabel: `Revoke key ${key.name}`,
      question: `Revoke ${key.name}?`,
      confirm: "Revoke",
      run: revoke,
    }),
  );
}

function newKeyForm(me, created) {
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const lifetime = h(
    "select",
    { name: "expires_in_days" },
    KEY_LIFETIMES.map(([value, label]) => {
      const option = h("option", { value }, label);
      option.defaultSelected = value === "90";
      return option;
    }),
  );
  const scopes = h(
    "fieldset",
    { class: "key-scopes-choice" },
    h("legend", null, "Scopes"),
  );
  const scopesHolder = h("div", { class: "field", dataset: { field: "scopes" } }, scopes);
  const scopesProblem = h("p", { class: "field-problem", role: "alert", hidden: true });
  scopesHolder.append(scopesProblem);
  const submit = h("button", { type: "submit", class: "primary" }, "Make key");
  const problems = h("div", { class: "form-problems", role: "alert", hidden: true });

  const node = h(
    "form",
    { class: "key-form", novalidate: true },
    field("Name", name, "What the key is for, such as ci-deploy."),
    scopesHolder,
    field("Expires", lifetime),
    problems,
    h("div", { class: "actions" }, submit),
  );

  me.then(
    (answer) => {
      for (const scope of answer.scopes) {
        const box = h("input", { type: "checkbox", name: "scope", value: scope });
        // The default state, which resetting the form goes back to.
        box.defaultChecked = READ_SCOPES.has(scope);
        scopes.append(h("label", { class: "key-scope" }, box, h("code", null, scope)));
      }
    },
    (error) => scopes.append(h("p", { class: "problem" }, problemText(error))),
  );

  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...node.querySelectorAll('input[name="scope"]:checked')].map(
      (input) => input.value,
    );
    const fieldsMissing = [];
    if (!name.value.trim()) fieldsMissing.push({ field: "name", problem: "is required" });
    if (!chosen.length) fieldsMissing.push({ field: "scopes", problem: "choose at least one" });
    if (fieldsMissing.length) {
      showFieldProblems(node, { fields: fieldsMissing });
      return;
    }
    submit.disabled = true;
    try {
      const body = { name: name.value.trim(), scopes: chosen };
      if (lifetime.value) body.expires_in_days = Number(lifetime.value);
      const answer = await post("/keys", body);
      node.reset();
      showFieldProblems(node, { fields: [] });
      problems.hidden = true;
      created(answer);
    } catch (error) {
      if (error instanceof ApiError && error.fields.length) showFieldProblems(node, error);
      else showFieldProblems(node, { message: problemText(error), fields: [] });
    } finally {
      submit.disabled = false;
    }
  });

  return { node, focus: () => name.focus() };
}
