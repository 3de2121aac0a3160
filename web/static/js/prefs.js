// Each user's dashboard preferences: theme, accent and overview widgets.
//
// They are kept on the server (GET/PUT /auth/me/preferences) so they follow
// the user to every browser, and copied to localStorage so the theme is
// right from the first paint, before the server answers.

import { get, put } from "./api.js";

const LOCAL_KEY = "upcast.preferences";
const SAVE_DELAY_MS = 400;

export const DEFAULT_ACCENT = "#0e7490";

let current = readLocal();
let saveTimer = null;

function readLocal() {
  try {
    return JSON.parse(localStorage.getItem(LOCAL_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

/** The preferences as known now. */
export function preferences() {
  return current;
}

/** Read the signed-in user's preferences from the server and apply them. */
export async function loadPreferences() {
  try {
    const answer = await get("/auth/me/preferences");
    current = answer.preferences || {};
    localStorage.setItem(LOCAL_KEY, JSON.stringify(current));
  } catch {
    // Offline or refused: the copy kept in this browser stands.
  }
  applyTheme();
  return current;
}

/** Change some preferences: applied at once, saved shortly after. */
export function setPreferences(changes) {
  current = { ...current, ...changes };
  localStorage.setItem(LOCAL_KEY, JSON.stringify(current));
  applyTheme();
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    put("/auth/me/preferences", { preferences: current }).catch((error) => {
      console.warn("preferences were not saved", error);
    });
  }, SAVE_DELAY_MS);
}

/** Set the page's theme ("light", "dark" or following the system) and accent. */
export function applyTheme() {
  const root = document.documentElement;
  const theme = current.theme === "light" || current.theme === "dark" ? current.theme : "";
  if (theme) root.dataset.theme = theme;
  else delete root.dataset.theme;
  const accent = /^#[0-9a-f]{6}$/i.test(current.accent || "") ? current.accent : "";
  if (accent) {
    root.style.setProperty("--accent", accent);
    root.style.setProperty("--on-accent", readableOn(accent));
  } else {
    root.style.removeProperty("--accent");
    root.style.removeProperty("--on-accent");
  }
}

/** Black or white, whichever reads better on the given colour (WCAG luminance). */
export function readableOn(hex) {
  const channel = (at) => {
    const value = parseInt(hex.slice(at, at + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#000000" : "#ffffff";
}

applyTheme();
