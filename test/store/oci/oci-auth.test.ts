import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { assertOneLine, runCli, tempHome, TEST_MODEL } from "../../helpers.js";
import { PASSWORD, TestRegistry, USER } from "./registry-fixture.js";

describe("registry authentication and transport", () => {
  let home: string;
  let cleanup: () => void;
  before(async () => {
    ({ home, cleanup } = tempHome());
    const r = await runCli(["add", TEST_MODEL, "--name", "stories:1"], { env: { EDGELM_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => cleanup());

  const roundTrip = async (host: string, env: Record<string, string>): Promise<void> => {
    const push = await runCli(["push", "stories:1", `oci://${host}/auth/stories:1`, "--json"], { env: { EDGELM_HOME: home, ...env } });
    assert.equal(push.code, 0, push.stderr);
    const fresh = tempHome();
    try {
      const pull = await runCli(["pull", `oci://${host}/auth/stories:1`, "--json"], { env: { ...env, EDGELM_HOME: fresh.home } });
      assert.equal(pull.code, 0, pull.stderr);
      assert.equal(JSON.parse(pull.stdout).source.digest, JSON.parse(push.stdout).digest);
    } finally {
      fresh.cleanup();
    }
  };

  it("basic auth (htpasswd): a clear 401 without credentials; works with store.oci.credentials and with Docker's config.json", async () => {
    const registry = await TestRegistry.start({ auth: "basic" });
    try {
      const insecure = { EDGELM_OCI_INSECURE: registry.host };
      const denied = await runCli(["push", "stories:1", `oci://${registry.host}/auth/stories:1`], { env: { EDGELM_HOME: home, ...insecure, DOCKER_CONFIG: join(home, "no-docker") } });
      assert.equal(denied.code, 2, denied.stderr);
      assertOneLine(denied.stderr);
      assert.match(denied.stderr, new RegExp(`${registry.host.replace(".", "\\.")} refused access: it asks for a user and password; edgelm sent no credentials`));
      const wrongHome = tempHome();
      try {
        writeFileSync(join(wrongHome.home, "config.yaml"), `store:\n  oci:\n    credentials:\n      "${registry.host}": { username: ${USER}, password: wrong }\n`);
        const wrong = await runCli(["pull", `oci://${registry.host}/auth/stories:1`], { env: { EDGELM_HOME: wrongHome.home, ...insecure } });
        assert.equal(wrong.code, 2, wrong.stderr);
        assertOneLine(wrong.stderr);
        assert.match(wrong.stderr, /HTTP 401.*edgelm sent the credentials from store\.oci\.credentials/);
      } finally {
        wrongHome.cleanup();
      }
      // Docker's config.json, as `docker login` writes it.
      const docker = join(home, "docker");
      mkdirSync(docker, { recursive: true });
      writeFileSync(join(docker, "config.json"), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }));
      await roundTrip(registry.host, { ...insecure, DOCKER_CONFIG: docker });
    } finally {
      await registry.stop();
    }
  });

  it("bearer token flow over HTTPS with a custom CA; plain HTTP only for hosts listed as insecure", async () => {
    const registry = await TestRegistry.start({ auth: "token", tls: true });
    try {
      const credHome = join(home, "token-creds");
      mkdirSync(credHome, { recursive: true });
      const config = join(credHome, "config.yaml");
      writeFileSync(config, `store:\n  oci:\n    ca: [${registry.caPath}]\n    credentials:\n      "${registry.host}": { username: ${USER}, password: ${PASSWORD} }\n`);
      const env = { EDGELM_CONFIG: config };
      await roundTrip(registry.host, env);
      const scopes = registry.tokenRequests.flatMap((r) => r.scope);
      assert.ok(scopes.includes("repository:auth/stories:pull,push"), `push asked for pull,push: ${scopes.join(" ")}`);
      assert.ok(scopes.includes("repository:auth/stories:pull"), "pull asked for pull");
      assert.ok(registry.tokenRequests.every((r) => r.authorized), "the token service got the basic credentials");

      // Without the CA the certificate is not trusted; listing the host as insecure means plain HTTP, which a TLS port refuses.
      const untrusted = await runCli(["pull", `oci://${registry.host}/auth/stories:1`], { env: { EDGELM_HOME: join(home, "x1") } });
      assert.equal(untrusted.code, 7, untrusted.stderr);
      assertOneLine(untrusted.stderr);
      assert.match(untrusted.stderr, /cannot reach https:\/\/127\.0\.0\.1:\d+ \(certificate not trusted: [A-Z_]+\); .*add that certificate to store\.oci\.ca/);
      const plain = await runCli(["pull", `oci://${registry.host}/auth/stories:1`], { env: { EDGELM_HOME: join(home, "x2"), EDGELM_OCI_INSECURE: registry.host } });
      assert.equal(plain.code, 7, plain.stderr);
      assertOneLine(plain.stderr);
      assert.match(plain.stderr, /HTTP 400/, "the TLS port refuses plain HTTP");
    } finally {
      await registry.stop();
    }
    // An HTTP registry not listed as insecure is spoken to over HTTPS, never downgraded.
    const http = await TestRegistry.start();
    try {
      const r = await runCli(["pull", `oci://${http.host}/auth/stories:1`], { env: { EDGELM_HOME: join(home, "x3") } });
      assert.equal(r.code, 7, r.stderr);
      assertOneLine(r.stderr);
      assert.match(r.stderr, /cannot reach https:\/\/.*TLS handshake failed.*list it in store\.oci\.insecure/);
    } finally {
      await http.stop();
    }
  });
});
