import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO_ROOT } from "../helpers.js";
import { get, sampleValue, startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";
import { promtool } from "./promtool.js";

const DESCRIPTION = "The model's runner process keeps crashing (out of memory, a native fault); requests in flight at each crash failed.";

describe("per-model series from a model's start: EdgelmRunnerRestarting on the first restarts, the dashboard's $model", () => {
  let fixture: OpsFixture;
  before(async () => {
    fixture = await startOpsGateway({
      models: [
        { name: "crashy", ref: "demo", parallel: 1, threads: { decode: 1, prompt: 1 } },
        { name: "steady", ref: "demo", parallel: 1, threads: { decode: 1, prompt: 1 } },
      ],
    });
  });
  after(async () => {
    await fixture?.close();
  });

  /** Kills the model's runner and waits until its replacement is ready. */
  async function crash(model: string): Promise<void> {
    const pid = fixture.gateway.pool(model).describe().runners[0]!.pid!;
    process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const status = fixture.gateway.pool(model).describe();
      if (status.state === "ready" && status.runners[0]?.pid !== undefined && status.runners[0].pid !== pid) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${model} did not restart`);
  }

  it("every served model has a restart counter at 0 from its start, and three quick crashes fire the alert", async () => {
    const first = (await get(`${fixture.url}/metrics`)).text;
    assert.equal(sampleValue(first, 'edgelm_runner_restarts_total{model="crashy"}'), 0);
    assert.equal(sampleValue(first, 'edgelm_runner_restarts_total{model="steady"}'), 0);
    // The series the dashboard's $model variable lists models from exists before any request.
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "deploy/grafana/edgelm.json"), "utf8"));
    const query = JSON.stringify(dashboard.templating.list.find((v: { name: string }) => v.name === "model").query);
    const metric = /label_values\((edgelm_[a-z_]+)/.exec(query)![1]!;
    for (const model of ["crashy", "steady"]) assert.match(first, new RegExp(`^${metric}\\{[^}]*model="${model}"[^}]*\\} 1$`, "m"), `${metric} for ${model}`);
    // A crash loop between two scrapes, as when a model keeps dying at load or on its first request.
    for (let i = 0; i < 3; i++) await crash("crashy");
    const second = (await get(`${fixture.url}/metrics`)).text;
    const crashy = sampleValue(second, 'edgelm_runner_restarts_total{model="crashy"}');
    assert.equal(crashy, 3);
    assert.equal(sampleValue(second, 'edgelm_runner_restarts_total{model="steady"}'), 0);

    // The scraped values, one scrape a minute, through the shipped rule. "unseeded" is the same crash loop
    // without the 0 sample (the series appears at its first restart): increase() cannot see it.
    const dir = mkdtempSync(join(tmpdir(), "edgelm-restart-alert-"));
    try {
      const series = (model: string, values: string) =>
        `      - series: 'edgelm_runner_restarts_total{job="edgelm",instance="edge1",model="${model}"}'\n        values: "${values}"\n`;
      writeFileSync(
        join(dir, "restarts.test.yml"),
        `rule_files: [${JSON.stringify(join(REPO_ROOT, "deploy/prometheus/alerts.yml"))}]\nevaluation_interval: 15s\ntests:\n  - interval: 1m\n    input_series:\n` +
          series("crashy", `${sampleValue(first, 'edgelm_runner_restarts_total{model="crashy"}')} ${crashy}x10`) +
          series("steady", `${sampleValue(first, 'edgelm_runner_restarts_total{model="steady"}')}x11`) +
          series("unseeded", `_ ${crashy}x10`) +
          "    alert_rule_test:\n      - eval_time: 2m\n        alertname: EdgelmRunnerRestarting\n        exp_alerts:\n" +
          "          - exp_labels: { job: edgelm, instance: edge1, model: crashy, severity: critical }\n" +
          `            exp_annotations:\n              summary: "Runner of crashy restarted 3 times in 10 minutes on edge1"\n              description: ${JSON.stringify(DESCRIPTION)}\n`,
      );
      const { code, output } = promtool(["test", "rules", "restarts.test.yml"], undefined, dir);
      assert.equal(code, 0, output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
