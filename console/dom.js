// @ts-check
/** Small DOM helpers: element creation without innerHTML (nothing from the server is ever parsed as HTML). */

/**
 * An element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attrs]
 * @param {...(Node | string | number | null | undefined)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(typeof child === "object" ? child : String(child));
  }
  return el;
}

/**
 * The element with `id`, typed by the caller.
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return /** @type {T} */ (el);
}

/**
 * Replaces the rows of a table body.
 * @param {HTMLElement} table
 * @param {Array<Array<Node | string | number | null>>} rows
 * @param {string} empty text of the one row shown when there are none
 */
export function fillTable(table, rows, empty) {
  const body = table.querySelector("tbody");
  if (!body) return;
  const columns = table.querySelectorAll("thead th").length || 1;
  body.replaceChildren(
    ...(rows.length === 0 ? [h("tr", {}, h("td", { colspan: columns, class: "empty" }, empty))] : rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c))))),
  );
}

/**
 * Replaces the options of a select, keeping the selected value when it is still offered.
 * @param {HTMLSelectElement} select
 * @param {Array<{ value: string, label: string }>} options
 */
export function fillSelect(select, options) {
  const keep = select.value;
  select.replaceChildren(...options.map((o) => h("option", { value: o.value }, o.label)));
  if (options.some((o) => o.value === keep)) select.value = keep;
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes <= 0) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) [v, i] = [v / 1024, i + 1];
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * Asks for confirmation in the page's dialog; resolves true on Confirm.
 * @param {string} text
 * @returns {Promise<boolean>}
 */
export function confirmAction(text) {
  const dialog = /** @type {HTMLDialogElement} */ (byId("confirm"));
  byId("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}
