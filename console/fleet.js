// @ts-check
/**
 * The fleet view: the peer gateways this one routes to, each as it answered
 * about itself (health, models and their states, requests in flight, the
 * digest a followed model serves) with this gateway's circuit breaker for it
 * and the share of load sent its way; then what this gateway serves itself.
 */
import { byId, fillTable, h } from "./dom.js";

/** @param {any} m */
function digestOf(m) {
  return m.digest ? `${m.version ?? ""} ${m.digest.slice(0, 19)}…`.trim() : "";
}

export class Fleet {
  /** @param {any} state */
  update(state) {
    const routing = state.routing;
    const peers = state.fleet ?? [];
    const summary = routing
      ? `${routing.peers} peer gateway(s); share of load sent to peers ${routing.weights.peer}, to the cloud ${routing.weights.cloud}.`
      : "No routes to peers or the cloud are configured (router.routes, router.peers): this gateway serves everything itself.";
    const peerTable = h(
      "table",
      { id: "peers" },
      h("caption", {}, "Peer gateways"),
      h("thead", {}, h("tr", {}, ...["Peer", "Health", "Circuit", "Models", "In flight", "Digests"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody"),
    );
    const ownTable = h(
      "table",
      { id: "fleet-models" },
      h("caption", {}, "This gateway"),
      h("thead", {}, h("tr", {}, ...["Model", "State", "Running / waiting", "Digest served"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody"),
    );
    byId("fleet").replaceChildren(h("p", {}, summary), peerTable, ownTable);
    fillTable(
      peerTable,
      peers.map((/** @type {any} */ p) => [
        h("span", { title: p.url }, p.name),
        h("span", { class: `health ${p.health.replace(" ", "-")}` }, p.health + (p.detail ? ` (${p.detail})` : "")),
        p.breaker,
        p.models.map((/** @type {any} */ m) => `${m.name}: ${m.state}`).join(", ") || "–",
        p.inFlight === null ? "?" : String(p.inFlight),
        p.models.map(digestOf).filter(Boolean).join(", ") || "–",
      ]),
      "no peers",
    );
    fillTable(
      ownTable,
      state.models.map((/** @type {any} */ m) => [m.name, m.state, `${m.queue.inFlight} / ${m.queue.waiting}`, m.rollout ? `${m.rollout.version} (${m.rollout.digest.slice(0, 19)}…), ${m.rollout.state}` : "not following a tag"]),
      "no models",
    );
  }
}
