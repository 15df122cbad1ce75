/** `edgelm config check|show` and the EDGELM_* environment, end to end. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { runCli } from "../helpers.js";

describe("edgelm config", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgelm-config-"));
  const env = { EDGELM_HOME: join(dir, "home") };
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("check accepts a valid file and names every problem of a bad one with its path", async () => {
    writeFileSync(join(dir, "good.yaml"), "server:\n  port: 8080\n");
    const good = await runCli(["config", "check", "--config", join(dir, "good.yaml")], { env });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^ok: .*good\.yaml/);

    writeFileSync(join(dir, "bad.yaml"), 'server:\n  port: "x"\n  bogus: 1\n');
    const bad = await runCli(["config", "check", "--config", join(dir, "bad.yaml")], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid configuration \(.*bad\.yaml\)/);
    assert.match(bad.stderr, /server\.port: .*expected number/);
    assert.match(bad.stderr, /Unrecognized key: "bogus"/);
  });

  it("check names every problem of malformed event sinks (unknown type, bad URL, wildcard topic, half a TLS pair, duplicate names)", async () => {
    writeFileSync(
      join(dir, "sinks.yaml"),
      [
        "router:",
        "  events:",
        "    sinks:",
        "      - { type: kafka, url: \"http://x\" }",
        "      - { type: mqtt, url: \"http://broker:1883\" }",
        "      - { type: mqtt, url: \"mqtt://broker:1883\", topic: \"edgelm/#\", cert_file: /etc/c.pem }",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "names.yaml"),
      "router:\n  events:\n    sinks:\n      - { type: http, name: cloud, url: \"https://a.example/v1/events\" }\n      - { type: mqtt, name: cloud, url: \"mqtt://broker:1883\" }\n",
    );
    const bad = await runCli(["config", "check", "--config", join(dir, "sinks.yaml")], { env });
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(bad.stderr, /router\.events\.sinks\.0\.type: /);
    assert.match(bad.stderr, /router\.events\.sinks\.1\.url: an mqtt:\/\/ or mqtts:\/\/ URL/);
    assert.match(bad.stderr, /router\.events\.sinks\.2\.topic: no MQTT wildcards/);
    assert.match(bad.stderr, /router\.events\.sinks\.2\.cert_file: cert_file and key_file go together/);
    const names = await runCli(["config", "check", "--config", join(dir, "names.yaml")], { env });
    assert.equal(names.code, 2, names.stdout);
    assert.match(names.stderr, /router\.events\.sinks\.1\.name: another sink is already named "cloud"/);
  });

  it("show applies file < environment, and EDGELM_POLICIES=0 switches the policy engine off", async () => {
    writeFileSync(join(dir, "file.yaml"), "server:\n  port: 8080\npolicies:\n  dry_run: true\n");
    const shown = await runCli(["config", "show", "--config", join(dir, "file.yaml")], { env: { ...env, EDGELM_POLICIES: "0", EDGELM_PORT: "9090" } });
    assert.equal(shown.code, 0, shown.stderr);
    const config = parseYaml(shown.stdout) as { server: { port: number }; policies: { enabled: boolean; dry_run: boolean } };
    assert.equal(config.policies.enabled, false);
    assert.equal(config.policies.dry_run, true);
    assert.equal(config.server.port, 9090);
  });

  it("show --env lists every EDGELM_* variable the configuration reads, EDGELM_CONFIG first", async () => {
    const listed = await runCli(["config", "show", "--env"], { env });
    assert.equal(listed.code, 0, listed.stderr);
    const names = listed.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
    assert.equal(names[0], "EDGELM_CONFIG");
    const { ENV_BINDINGS } = await import("../../src/config/env.js");
    assert.deepEqual(names.slice(1), ENV_BINDINGS.map((b) => b.name));
  });

  it("a malformed environment value is blamed on its variable", async () => {
    const shown = await runCli(["config", "show"], { env: { ...env, EDGELM_POLICIES: "maybe" } });
    assert.equal(shown.code, 2);
    assert.match(shown.stderr, /policies\.enabled: .*\(from EDGELM_POLICIES="maybe"\)/);
  });
});
