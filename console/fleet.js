// @ts-check
/**
 * The fleet view: what this gateway knows of the devices around it — the
 * peers it routes to with their load shares, and for each served model the
 * digest and version it serves when it follows a registry tag.
 */
import { byId, h } from "./dom.js";

export class Fleet {
  /** @param {any} state */
  update(state) {
    const routing = state.routing;
    const rows = state.models.map((/** @type {any} */ m) =>
      h("tr", {}, h("td", {}, m.name), h("td", {}, m.rollout ? `${m.rollout.version} (${m.rollout.digest.slice(0, 19)}…)` : "not following a tag"), h("td", {}, m.rollout ? m.rollout.state : "–")),
    );
    byId("fleet").replaceChildren(
      routing
        ? h("p", {}, `${routing.peers} peer gateway(s) configured; share of load sent to peers ${routing.weights.peer}, to the cloud ${routing.weights.cloud}.`)
        : h("p", {}, "No peers or cloud are configured (router.peers, router.cloud): this gateway serves everything itself."),
      h("h3", {}, "What this gateway serves"),
      h("table", { id: "fleet-models" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Model"), h("th", { scope: "col" }, "Digest served"), h("th", { scope: "col" }, "Rollout"))), h("tbody", {}, ...rows)),
    );
  }
}
