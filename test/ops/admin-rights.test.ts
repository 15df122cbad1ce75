/**
 * Admin rights are not inference rights, and admin operations are bounded:
 * an inference key gets 403 on /admin/*, twelve add-runner calls stop at
 * server.max_runners, `swap` takes no path (`../../../../tmp/x.gguf`, a real
 * GGUF outside the store, is never loaded), and /etc/shadow answers exactly
 * like a path that does not exist.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { ApiKeyCheck } from "../../src/server/api-key-check.js";
import { isEdgeError } from "../../src/errors.js";
import { runCli, REPO_ROOT, TEST_MODEL } from "../helpers.js";
import { startOpsGateway, type OpsFixture } from "./ops-gateway-fixture.js";

const INFERENCE = "inference-key";
const ADMIN = "admin-key";

async function call(url: string, method: string, path: string, key: string | undefined, body?: unknown): Promise<{ status: number; json: { error?: { message: string; code: string } } & Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as never };
}

describe("admin rights and bounds", () => {
  let fixture: OpsFixture;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgelm-admin-"));
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 1, threads: { decode: 1, prompt: 1 } }],
      config: { server: { api_keys: [INFERENCE], admin_keys: [ADMIN], max_runners: 3 } },
    });
  });
  after(async () => {
    await fixture?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an inference key gets 403 on every admin route; an admin key passes; no key is 401", async () => {
    for (const [method, path, body] of [
      ["GET", "/admin/models", undefined],
      ["GET", "/admin/policies", undefined],
      ["POST", "/admin/runners/add", { model: "demo" }],
      ["POST", "/admin/swap", { model: "demo", parallel: 1 }],
    ] as const) {
      const inference = await call(fixture.url, method, path, INFERENCE, body);
      assert.equal(inference.status, 403, `${method} ${path}`);
      assert.equal(inference.json.error?.code, "forbidden");
      assert.match(inference.json.error!.message, /may not call the admin API; use one of server\.admin_keys/);
      assert.equal((await call(fixture.url, method, path, undefined, body)).status, 401);
    }
    assert.equal(fixture.gateway.pool("demo").describe().runners.length, 1, "nothing was added by the refused calls");
    assert.equal((await call(fixture.url, "GET", "/admin/models", ADMIN)).status, 200);
    // The admin key serves inference too; the inference key still does.
    for (const key of [ADMIN, INFERENCE]) assert.equal((await call(fixture.url, "GET", "/v1/models", key)).status, 200);
  });

  it("12 add-runner calls stop at server.max_runners", async () => {
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) answers.push((await call(fixture.url, "POST", "/admin/runners/add", ADMIN, { model: "demo" })).status);
    assert.deepEqual(answers, [200, 200, ...Array(10).fill(400)]);
    assert.equal(fixture.gateway.pool("demo").describe().runners.length, 3);
    const refused = await call(fixture.url, "POST", "/admin/runners/add", ADMIN, { model: "demo" });
    assert.match(refused.json.error!.message, /already has 3 runners, the most server\.max_runners \(3\) allows/);
    for (let i = 0; i < 2; i++) assert.equal((await call(fixture.url, "POST", "/admin/runners/remove", ADMIN, { model: "demo" })).status, 200);
  });

  it("swap takes no path: a real GGUF outside the store is not loaded, and /etc/shadow answers like a missing file", async () => {
    const file = join(dir, "x.gguf");
    copyFileSync(TEST_MODEL, file);
    const traversal = relative(REPO_ROOT, file).startsWith("..") ? `${"../".repeat(8)}${file.slice(1)}` : file;
    const refs = [traversal, file, "/etc/shadow", "/nonexistent/shadow", `file://${file}`, "hf:owner/repo/x.gguf", "not-in-store:1"];
    const answers = await Promise.all(refs.map((to) => call(fixture.url, "POST", "/admin/swap", ADMIN, { model: "demo", to })));
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 404, refs[i]);
      assert.equal(answer.json.error?.code, "model_not_found", refs[i]);
      // The same words for every path, existing or not: only the echoed reference differs.
      assert.equal(answer.json.error!.message.replace(refs[i]!, "<ref>"), answers[2]!.json.error!.message.replace("/etc/shadow", "<ref>"));
    }
    assert.deepEqual(fixture.gateway.pool("demo").describe().runners.map((r) => r.ref), ["demo"]);
    // A configured reference (the one served) and a parallel change still work.
    const same = await call(fixture.url, "POST", "/admin/swap", ADMIN, { model: "demo", to: "demo", parallel: 2 });
    assert.equal(same.status, 200, JSON.stringify(same.json));
  });

  it("edgelm admin takes the admin key from EDGELM_ADMIN_KEYS or --admin-key, and says why an API key is refused", async () => {
    const fromEnv = await runCli(["admin", "models", "--url", fixture.url], { env: { EDGELM_ADMIN_KEYS: ADMIN } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /demo/);
    const fromFlag = await runCli(["admin", "models", "--url", fixture.url, "--admin-key", ADMIN]);
    assert.equal(fromFlag.code, 0, fromFlag.stderr);
    const refused = await runCli(["admin", "add-runner", "demo", "--url", fixture.url, "--api-key", INFERENCE]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, "edgelm: this API key may not call the admin API; use one of server.admin_keys\n");
  });
});

describe("the admin right without admin keys", () => {
  it("is for loopback clients only (with an API key when those are set)", () => {
    const open = new ApiKeyCheck([]);
    open.checkAdmin(undefined, "127.0.0.1");
    open.checkAdmin(undefined, "::ffff:127.0.0.1");
    open.checkAdmin(undefined, "::1");
    for (const remote of ["10.1.2.3", "::ffff:192.168.1.9", "fe80::1", undefined]) {
      assert.throws(() => open.checkAdmin(undefined, remote), (e: unknown) => isEdgeError(e) && e.code === "forbidden" && /loopback clients only; set server\.admin_keys/.test(e.message));
    }
    const keyed = new ApiKeyCheck([INFERENCE]);
    keyed.checkAdmin(`Bearer ${INFERENCE}`, "127.0.0.1");
    assert.throws(() => keyed.checkAdmin(undefined, "127.0.0.1"), (e: unknown) => isEdgeError(e) && e.code === "unauthorized");
    assert.throws(() => keyed.checkAdmin(`Bearer ${INFERENCE}`, "10.1.2.3"), (e: unknown) => isEdgeError(e) && e.code === "forbidden");
  });
});
