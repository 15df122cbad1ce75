import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { MetricsRegistry } from "../../src/ops/metrics-registry.js";
import { RequestMetrics } from "../../src/ops/request-metrics.js";
import { ResourceMetrics } from "../../src/ops/resource-metrics.js";
import { REPO_ROOT } from "../helpers.js";
import { promtool } from "./promtool.js";

const PROMETHEUS = join(REPO_ROOT, "deploy/prometheus");

describe("deploy/prometheus and deploy/grafana", () => {
  it("alerts.yml passes promtool check rules", () => {
    const { code, output } = promtool(["check", "rules", "alerts.yml"], undefined, PROMETHEUS);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS: 8 rules found/);
  });

  it("alerts.yml passes its promtool unit tests", () => {
    const { code, output } = promtool(["test", "rules", "alerts.test.yml"], undefined, PROMETHEUS);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
  });

  it("promtool test rules fails when a threshold drifts (the tests can fail)", () => {
    const rules = readFileSync(join(PROMETHEUS, "alerts.yml"), "utf8").replace("edgelm_memory_used_ratio > 0.90", "edgelm_memory_used_ratio > 0.96");
    const tests = readFileSync(join(PROMETHEUS, "alerts.test.yml"), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "edgelm-promtool-"));
    try {
      writeFileSync(join(dir, "alerts.yml"), rules);
      writeFileSync(join(dir, "alerts.test.yml"), tests);
      const { code, output } = promtool(["test", "rules", "alerts.test.yml"], undefined, dir);
      assert.notEqual(code, 0);
      assert.match(output, /EdgelmMemoryHigh/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the dashboard loads by file provisioning: its data source is a variable and every variable it uses is defined", () => {
    const text = readFileSync(join(REPO_ROOT, "deploy/grafana/edgelm.json"), "utf8");
    const dashboard = JSON.parse(text);
    // File provisioning does not fill __inputs: a ${DS_...} placeholder would stay unresolved.
    assert.equal(dashboard.__inputs, undefined);
    assert.doesNotMatch(text, /\$\{DS_/);
    const variables = dashboard.templating.list as Array<{ name: string; type: string; query: unknown; datasource?: { uid: string } }>;
    const source = variables.find((v) => v.type === "datasource");
    assert.ok(source, "a data source variable");
    assert.equal(source.query, "prometheus");
    // Every data source reference in panels, targets and variables goes through it.
    const uids = [...text.matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]).filter((uid) => uid !== dashboard.uid);
    assert.ok(uids.length > 10);
    assert.deepEqual([...new Set(uids)], [`\${${source.name}}`]);
    // Every $variable / ${variable} is defined, or one of Grafana's own.
    const builtins = new Set(["__rate_interval", "__interval", "__interval_ms", "__range", "__all", "__auto"]);
    const defined = new Set(variables.map((v) => v.name));
    const used = [...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
    assert.deepEqual([...new Set(used)].filter((name) => !defined.has(name) && !builtins.has(name)), []);
    // $model lists models from a series each served model has from its start, not only models that had requests.
    const model = variables.find((v) => v.name === "model")!;
    assert.match(JSON.stringify(model.query), /label_values\(edgelm_model_info\b/);
    const provider = parseYaml(readFileSync(join(REPO_ROOT, "deploy/grafana/provisioning/edgelm-dashboards.yaml"), "utf8"));
    assert.equal(provider.apiVersion, 1);
    assert.equal(provider.providers[0].type, "file");
  });

  it("every edgelm_ metric the rules and the dashboard use is one the gateway exports", () => {
    const registry = new MetricsRegistry();
    new RequestMetrics(registry, { models: () => [] });
    new ResourceMetrics(registry);
    const exported = new Set(registry.registry.getMetricsAsArray().map((m) => m.name));
    // Policy and alert metrics are registered by their owners; list them by name.
    for (const name of ["edgelm_policy_decisions_total", "edgelm_policy_rule_firing", "edgelm_alert_notifications_total"]) exported.add(name);
    const used = (text: string): string[] => [...new Set([...text.matchAll(/\bedgelm_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, "")))];
    const rules = readFileSync(join(PROMETHEUS, "alerts.yml"), "utf8");
    const dashboard = JSON.stringify(JSON.parse(readFileSync(join(REPO_ROOT, "deploy/grafana/edgelm.json"), "utf8")).panels);
    const missing = [...used(rules), ...used(dashboard)].filter((name) => !exported.has(name));
    assert.deepEqual(missing, []);
  });
});
