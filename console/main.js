// @ts-check
/**
 * The console's start: asks for the gateway's state (a key first, when the
 * gateway wants one), then shows the page named in the URL's fragment and
 * keeps the state fresh while the tab is visible.
 */
import { ApiError, json, storeKey, storedKey } from "./api.js";
import { byId } from "./dom.js";
import { Dashboard } from "./dashboard.js";
import { Fleet } from "./fleet.js";
import { Models } from "./models.js";
import { Playground } from "./playground.js";

const PAGES = ["playground", "dashboard", "models", "fleet"];

/** @type {any} */
let state = null;
let timer = 0;
const playground = new Playground(() => refresh());
const dashboard = new Dashboard(() => refresh());
const models = new Models();
const fleet = new Fleet();

/** @param {string} text */
function status(text) {
  byId("status").textContent = text;
}

function currentPage() {
  const name = location.hash.replace(/^#/, "");
  return PAGES.includes(name) ? name : "playground";
}

function show() {
  const current = currentPage();
  for (const name of PAGES) {
    const tab = byId(`tab-${name}`);
    tab.setAttribute("aria-selected", String(name === current));
    tab.tabIndex = name === current ? 0 : -1;
    byId(`page-${name}`).hidden = state === null || name !== current;
  }
  if (state && current === "models") void models.load(state);
}

function showLogin(message = "") {
  state = null;
  byId("login").hidden = false;
  byId("login-error").textContent = message;
  byId("logout").hidden = true;
  byId("who").textContent = "";
  show();
  byId("login-key").focus();
}

async function refresh() {
  try {
    state = await json("/console/api/state");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const had = storedKey() !== null;
      storeKey(null);
      showLogin(had ? `The key was refused: ${error.message}` : "");
      return;
    }
    status(`Cannot reach the gateway: ${/** @type {Error} */ (error).message}`);
    return;
  }
  status("");
  byId("login").hidden = true;
  byId("logout").hidden = !state.auth.keys;
  byId("who").textContent = `edgelm ${state.version}${state.auth.keys ? " · signed in" : ""}${state.auth.admin ? " · admin" : ""}`;
  playground.update(state);
  dashboard.update(state);
  fleet.update(state);
  show();
}

function schedule() {
  clearTimeout(timer);
  const seconds = Math.max(1, Math.min(10, state?.history?.intervalSeconds ?? 2));
  timer = window.setTimeout(async () => {
    // Keep trying after a failed call (the gateway restarting); not while the sign-in form waits for a key.
    if (!document.hidden && byId("login").hidden) await refresh();
    schedule();
  }, seconds * 1000);
}

byId("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId("login-key"));
  storeKey(input.value.trim());
  input.value = "";
  await refresh();
});
byId("logout").addEventListener("click", () => {
  storeKey(null);
  showLogin();
});
window.addEventListener("hashchange", show);
// Arrow keys move between tabs (the ARIA tabs pattern); Enter follows the link.
byId("tabs").addEventListener("keydown", (event) => {
  const keys = { ArrowRight: 1, ArrowLeft: -1 };
  const step = keys[/** @type {"ArrowRight" | "ArrowLeft"} */ (event.key)];
  if (!step) return;
  const next = PAGES[(PAGES.indexOf(currentPage()) + step + PAGES.length) % PAGES.length];
  location.hash = `#${next}`;
  byId(`tab-${next}`).focus();
});

await refresh();
schedule();
