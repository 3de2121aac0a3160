// Signing in with a name and password.

import { ApiError, Offline, login, session } from "../api.js";
import { field, h, showFieldProblems } from "../dom.js";

export function mount(root, params, { navigate, query }) {
  const next = query.get("next") || "/";
  if (session()) {
    navigate(next, { replace: true });
    return;
  }
  const name = h("input", {
    name: "name",
    autocomplete: "username",
    required: true,
    autofocus: true,
  });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const problems = h("div", { class: "form-problems", role: "alert", hidden: true });

  const form = h(
    "form",
    { class: "login-form", novalidate: true },
    h(
      "div",
      { class: "login-brand" },
      h("img", { src: "/ui/icons/upcast.svg", alt: "", width: 40, height: 40 }),
      h("h1", null, "Upcast"),
    ),
    field("Name", name),
    field("Password", password),
    problems,
    submit,
    h(
      "p",
      { class: "muted small" },
      "No account yet? The owner's is made on the server: ",
      h("code", null, "upcast users create-owner NAME"),
    ),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await login(name.value.trim(), password.value);
      navigate(next, { replace: true });
    } catch (error) {
      password.value = "";
      if (error instanceof ApiError) {
        const message =
          error.status === 429
            ? `Too many attempts: try again in ${error.retryAfter ?? 60} s.`
            : error.status === 401
              ? "The name or password is wrong."
              : error.message;
        showFieldProblems(form, { message, fields: error.status === 422 ? error.fields : [] });
      } else if (error instanceof Offline) {
        showFieldProblems(form, { message: "The server cannot be reached.", fields: [] });
      } else {
        throw error;
      }
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  root.append(h("div", { class: "login-wrap" }, form));
  // autofocus is ignored once the page has focused something else.
  name.focus();
}
