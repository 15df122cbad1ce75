// @ts-check
/**
 * The live dashboard: plots of the gateway's last 15 minutes (from
 * /console/api/state's history, one point per resource sample), the served
 * models, the policy engine's rules and decision log, active alerts, and the
 * admin operations (swap precision, add/remove a runner, routing weights),
 * each behind a confirmation and shown only to an admin caller.
 */
import { json } from "./api.js";
import { byId, confirmAction, fillSelect, fillTable, h } from "./dom.js";
import { TimePlot } from "./plot.js";

/**
 * @typedef {{ id: string, title: string, unit: string, series: (points: any[]) => Array<{ label: string, points: Array<[number, number | null]> }>, optional?: boolean, ceiling?: number }} PlotSpec
 */

/** @param {string} key @param {string} label @returns {(points: any[]) => Array<{ label: string, points: Array<[number, number | null]> }>} */
const one = (key, label) => (points) => [{ label, points: points.map((p) => [p.at, p[key]]) }];

/** @type {PlotSpec[]} */
const PLOTS = [
  { id: "tokens", title: "Tokens per second", unit: "tokens/s", series: one("tokensPerSecond", "all models") },
  {
    id: "ttft",
    title: "Time to first token",
    unit: "ms",
    series: (p) => [
      { label: "p50", points: p.map((x) => [x.at, x.ttftP50Ms]) },
      { label: "p95", points: p.map((x) => [x.at, x.ttftP95Ms]) },
    ],
  },
  {
    id: "itl",
    title: "Inter-token latency",
    unit: "ms",
    series: (p) => [
      { label: "p50", points: p.map((x) => [x.at, x.interTokenP50Ms]) },
      { label: "p95", points: p.map((x) => [x.at, x.interTokenP95Ms]) },
    ],
  },
  {
    id: "queue",
    title: "Running and waiting requests",
    unit: "requests",
    series: (p) => {
      // Models that had work in the window (an idle on-demand model adds nothing but legend).
      const names = [...new Set(p.flatMap((x) => Object.keys(x.models)))].filter((name) => p.some((x) => (x.models[name]?.running ?? 0) + (x.models[name]?.waiting ?? 0) > 0));
      if (names.length === 0) {
        const total = (/** @type {"running" | "waiting"} */ key) => /** @type {Array<[number, number | null]>} */ (p.map((x) => [x.at, Object.values(x.models).reduce((sum, m) => sum + m[key], 0)]));
        return [
          { label: "running", points: total("running") },
          { label: "waiting", points: total("waiting") },
        ];
      }
      return names.flatMap((name) => [
        { label: `${name} running`, points: /** @type {Array<[number, number | null]>} */ (p.map((x) => [x.at, x.models[name]?.running ?? null])) },
        { label: `${name} waiting`, points: /** @type {Array<[number, number | null]>} */ (p.map((x) => [x.at, x.models[name]?.waiting ?? null])) },
      ]);
    },
  },
  { id: "cpu", title: "CPU busy", unit: "%", series: one("cpuPercent", "all cores"), ceiling: 100 },
  {
    id: "memory",
    title: "Memory",
    unit: "%",
    ceiling: 100,
    series: (p) => [
      { label: "used", points: p.map((x) => [x.at, x.memoryUsedPercent]) },
      { label: "PSI stall", points: p.map((x) => [x.at, x.memoryPressurePercent]) },
    ],
  },
  { id: "power", title: "Power", unit: "W", series: one("powerWatts", "power"), optional: true },
  { id: "energy", title: "Energy per token", unit: "J/token", series: one("joulesPerToken", "energy"), optional: true },
  { id: "restarts", title: "Runner restarts", unit: "per sample", series: one("runnerRestarts", "restarts") },
];

export class Dashboard {
  /** @param {() => Promise<void>} refresh */
  constructor(refresh) {
    this.refresh = refresh;
    /** @type {any} */
    this.state = null;
    this.plots = PLOTS.map((spec) => ({ spec, plot: new TimePlot(spec.id, spec.title, spec.unit, spec.ceiling) }));
    byId("plots").replaceChildren(...this.plots.map((p) => p.plot.figure));
    byId("span").addEventListener("change", () => this.state && this.update(this.state));
    byId("swap-model").addEventListener("change", () => this.fillVariants());
    byId("swap-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.swap();
    });
    byId("runner-add").addEventListener("click", () => void this.runner("add"));
    byId("runner-remove").addEventListener("click", () => void this.runner("remove"));
    byId("weights-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.weights();
    });
  }

  /** @param {any} state */
  update(state) {
    this.state = state;
    const points = state.history.points;
    const now = points.length ? Math.max(Date.now(), points[points.length - 1].at) : Date.now();
    const span = Math.min(state.history.spanSeconds, Number(/** @type {HTMLSelectElement} */ (byId("span")).value) || state.history.spanSeconds);
    byId("dash-span").textContent = `a point every ${state.history.intervalSeconds} s, kept ${Math.round(state.history.spanSeconds / 60)} minutes`;
    for (const { spec, plot } of this.plots) {
      const series = spec.series(points);
      const measured = series.some((s) => s.points.some((p) => p[1] !== null));
      if (spec.optional && !measured) {
        plot.figure.hidden = true;
        continue;
      }
      plot.draw(series, now, span * 1000);
    }
    fillTable(
      byId("served"),
      state.models.map((/** @type {any} */ m) => [
        m.name,
        m.quantization ?? "?",
        m.backend || "–",
        m.reason ? `${m.state}: ${m.reason}` : m.state,
        String(m.runners.length),
        `${m.queue.inFlight} / ${m.queue.waiting}`,
        m.trust ? m.trust.status : "–",
      ]),
      "no model is served",
    );
    const alerts = state.alerts ?? [];
    byId("alerts").replaceChildren(
      ...(alerts.length ? alerts.map((/** @type {any} */ a) => h("li", { class: `alert ${a.severity ?? ""}` }, `${a.name} (${a.severity ?? "warning"}): ${a.summary ?? ""}`)) : [h("li", { class: "empty" }, "none")]),
    );
    const policies = state.policies;
    byId("policy-mode").textContent = policies ? `${policies.enabled ? "enabled" : "disabled"}${policies.dryRun ? ", dry run: actions are only described" : ""}` : "no policy engine";
    fillTable(
      byId("rules"),
      (policies?.rules ?? []).map((/** @type {any} */ r) => [
        r.rule.name,
        r.rule.metric,
        r.value === null ? "–" : String(Math.round(r.value * 100) / 100),
        `${r.rule.op ?? ">"} ${r.rule.threshold}`,
        r.state + (r.cooldownUntil ? ` (cooldown until ${new Date(r.cooldownUntil).toLocaleTimeString()})` : ""),
        (r.rule.actions ?? []).join(", "),
      ]),
      "no rules",
    );
    fillTable(
      byId("decisions"),
      [...(policies?.decisions ?? [])].reverse().slice(0, 20).map((/** @type {any} */ d) => [
        new Date(d.at).toLocaleTimeString(),
        `${d.rule} ${d.event}`,
        `${d.action ?? "–"}${d.dryRun ? " (dry run: would do)" : ""}`,
        `${d.outcome}: ${d.detail}`,
      ]),
      "nothing has fired",
    );
    byId("admin").hidden = !state.auth.admin;
    byId("admin-hint").hidden = state.auth.admin;
    if (state.auth.admin) {
      const names = state.models.map((/** @type {any} */ m) => ({ value: m.name, label: m.name }));
      fillSelect(/** @type {HTMLSelectElement} */ (byId("swap-model")), names);
      fillSelect(/** @type {HTMLSelectElement} */ (byId("runner-model")), names);
      this.fillVariants();
      const weights = byId("weights-form");
      weights.hidden = !state.routing;
      if (state.routing && document.activeElement?.closest("#weights-form") !== weights) {
        /** @type {HTMLInputElement} */ (byId("weight-peer")).value = String(state.routing.weights.peer);
        /** @type {HTMLInputElement} */ (byId("weight-cloud")).value = String(state.routing.weights.cloud);
      }
    }
  }

  fillVariants() {
    const name = /** @type {HTMLSelectElement} */ (byId("swap-model")).value;
    const model = this.state?.models.find((/** @type {any} */ m) => m.name === name);
    const variants = model?.variants ?? [];
    fillSelect(
      /** @type {HTMLSelectElement} */ (byId("swap-to")),
      variants.map((/** @type {any} */ v) => ({ value: v.quantization.toLowerCase(), label: `${v.quantization} (${v.ref})` })),
    );
    /** @type {HTMLButtonElement} */ (byId("swap-form").querySelector("button")).disabled = variants.length === 0;
  }

  /** @param {string} text */
  result(text) {
    byId("admin-result").textContent = text;
  }

  /** @param {string} question @param {() => Promise<string>} action */
  async act(question, action) {
    if (!(await confirmAction(question))) {
      this.result("Cancelled.");
      return;
    }
    this.result("Working…");
    try {
      this.result(await action());
    } catch (error) {
      this.result(`Refused: ${/** @type {Error} */ (error).message}`);
    }
    await this.refresh();
  }

  async swap() {
    const model = /** @type {HTMLSelectElement} */ (byId("swap-model")).value;
    const to = /** @type {HTMLSelectElement} */ (byId("swap-to")).value;
    if (!model || !to) return;
    await this.act(`Swap ${model} to ${to.toUpperCase()}? Requests in flight finish on the old runner.`, async () => {
      const answer = await json("/admin/swap", { body: { model, to } });
      return `Swapped ${model}: ${answer.from} → ${answer.to}`;
    });
  }

  /** @param {"add" | "remove"} kind */
  async runner(kind) {
    const model = /** @type {HTMLSelectElement} */ (byId("runner-model")).value;
    if (!model) return;
    await this.act(kind === "add" ? `Start one more runner process for ${model}?` : `Stop one runner of ${model} (it drains first)?`, async () => {
      const answer = await json(`/admin/runners/${kind}`, { body: { model } });
      return `${model} has ${answer.model.runners.length} runner(s)`;
    });
  }

  async weights() {
    const peer = Number(/** @type {HTMLInputElement} */ (byId("weight-peer")).value);
    const cloud = Number(/** @type {HTMLInputElement} */ (byId("weight-cloud")).value);
    await this.act(`Send ${Math.round(peer * 100)}% of load to peers and ${Math.round(cloud * 100)}% to the cloud?`, async () => {
      const answer = await json("/admin/routing/weights", { method: "PUT", body: { peer, cloud } });
      return `Weights now peer ${answer.weights.peer}, cloud ${answer.weights.cloud}`;
    });
  }
}
