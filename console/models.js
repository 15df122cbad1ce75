// @ts-check
/**
 * The models page: what this gateway can serve (/api/tags) and has loaded
 * (/api/ps, with engine and trust verdict), the stored variants of each
 * served model, and a pull with a progress bar over /api/pull's NDJSON
 * progress (verified by the gateway before it reports success), and for an
 * admin a Verify button that hashes a served model's file again and runs the
 * trust policy on it.
 */
import { call, json, ndjson } from "./api.js";
import { byId, fillTable, formatBytes, h } from "./dom.js";

export class Models {
  constructor() {
    this.pulling = false;
    /** @type {any} */
    this.state = null;
    byId("pull-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.pull();
    });
  }

  /** @param {any} state */
  async load(state) {
    this.state = state;
    let tags, ps;
    try {
      [tags, ps] = await Promise.all([json("/api/tags"), json("/api/ps")]);
    } catch (error) {
      byId("pull-status").textContent = `Cannot list models: ${/** @type {Error} */ (error).message}`;
      return;
    }
    const loaded = new Map(ps.models.map((/** @type {any} */ m) => [m.name, m]));
    fillTable(
      byId("store"),
      tags.models.map((/** @type {any} */ m) => {
        const running = /** @type {any} */ (loaded.get(m.name));
        const served = state.models.find((/** @type {any} */ s) => s.name === m.name.replace(/:latest$/, ""));
        return [
          m.name,
          formatBytes(m.size),
          m.details?.quantization_level ?? "?",
          m.details?.family ?? "?",
          running ? `${running.edgelm?.backend ?? "?"}, ${running.edgelm?.runners?.length ?? 0} runner(s)` : "no",
          running ? `${running.edgelm?.trust ?? "?"}${running.edgelm?.hash_verified ? ", sha256 verified" : ""}` : served?.trust?.status ?? "checked on load",
          served?.variants?.length ? served.variants.map((/** @type {any} */ v) => v.quantization).join(", ") : "–",
          served && state.auth.admin ? this.verifyButton(served.name) : "–",
        ];
      }),
      "no models",
    );
  }

  /** @param {string} name */
  verifyButton(name) {
    const button = h("button", { type: "button", class: "verify", "aria-label": `Verify ${name}` }, "Verify");
    button.addEventListener("click", () => void this.verify(name, /** @type {HTMLButtonElement} */ (button)));
    return button;
  }

  /** @param {string} name @param {HTMLButtonElement} button */
  async verify(name, button) {
    const status = byId("verify-status");
    button.disabled = true;
    status.textContent = `Hashing ${name} again…`;
    try {
      const answer = await json("/console/api/verify", { body: { model: name } });
      status.textContent = `${answer.model}: sha256 ${answer.sha256.slice(0, 16)}… ${answer.hashVerified ? "matches what vouches for it" : "computed (nothing to compare it with)"}; trust ${answer.trust.status}: ${answer.trust.summary}`;
    } catch (error) {
      status.textContent = `${name} failed verification: ${/** @type {Error} */ (error).message}`;
    }
    button.disabled = false;
  }

  async pull() {
    if (this.pulling) return;
    const name = /** @type {HTMLInputElement} */ (byId("pull-name")).value.trim();
    if (!name) return;
    const bar = /** @type {HTMLProgressElement} */ (byId("pull-progress"));
    const status = byId("pull-status");
    const button = /** @type {HTMLButtonElement} */ (byId("pull-start"));
    this.pulling = true;
    button.disabled = true;
    bar.removeAttribute("value");
    status.textContent = `Pulling ${name}…`;
    let failed = "";
    try {
      const response = await call("/api/pull", { body: { model: name, stream: true } });
      for await (const line of ndjson(response)) {
        if (line.error) {
          failed = line.error;
          break;
        }
        if (line.total) {
          bar.max = line.total;
          bar.value = line.completed ?? 0;
        }
        status.textContent = line.total ? `${line.status}: ${formatBytes(line.completed ?? 0)} of ${formatBytes(line.total)}` : line.status;
        if (line.status === "success") bar.value = bar.max;
      }
    } catch (error) {
      failed = /** @type {Error} */ (error).message;
    }
    status.textContent = failed ? `Pull failed: ${failed}` : `Pulled and verified ${name}.`;
    if (failed) bar.value = 0;
    this.pulling = false;
    button.disabled = false;
    if (this.state) await this.load(this.state);
  }
}
