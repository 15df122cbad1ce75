import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ed25519PublicKey } from "../../src/trust/ed25519-key.js";
import { assertOneLine, runCli, tempHome } from "../helpers.js";
import { ADMIN_KEY, ed25519Pair, FLEET_KEY, startCoordinator, type Member } from "./federation-fixture.js";

describe("edgelm federate and keygen --curve ed25519 (against a real coordinator gateway)", () => {
  let coordinator: Member;
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(async () => {
    coordinator = await startCoordinator("/nonexistent/llama-finetune", [{ id: "dev-a", publicBase64: ed25519Pair().publicBase64 }]);
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home };
  });
  after(async () => {
    await coordinator?.close();
    cleanup?.();
  });

  it("keygen --curve ed25519 writes a pair whose printed public key the coordinator's config takes", async () => {
    const r = await runCli(["keygen", "--curve", "ed25519", "--out", join(home, "fed"), "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { private_key: string; public_key: string; public_key_base64: string };
    const fromRaw = ed25519PublicKey(out.public_key_base64, "raw");
    const fromPem = ed25519PublicKey(readFileSync(out.public_key, "utf8"), "pem");
    assert.ok(fromRaw.equals(fromPem));
    assert.match(readFileSync(out.private_key, "utf8"), /BEGIN PRIVATE KEY/);
  });

  it("publish opens a round, status --wait follows it to its end, and a failed round exits non-zero naming why", async () => {
    const published = await runCli(["federate", "publish", coordinator.url, "--key", ADMIN_KEY, "--base", "stories:base", "--deadline", "8", "--min-participants", "2", "--noise", "1", "--json"], { env });
    assert.equal(published.code, 0, published.stderr);
    const round = JSON.parse(published.stdout) as { id: string; state: string; privacy: { epsilon: number } };
    assert.equal(round.state, "open");
    assert.ok(round.privacy.epsilon > 4.3 && round.privacy.epsilon < 4.45, "z = 1, δ = 1e-5");
    const listed = await runCli(["federate", "status", coordinator.url, "--key", FLEET_KEY], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${round.id}\\s+open\\s+stories:base`));
    const waited = await runCli(["federate", "status", coordinator.url, round.id, "--key", FLEET_KEY, "--wait"], { env, timeoutMs: 20_000 });
    assert.equal(waited.code, 3, waited.stderr);
    assert.match(waited.stdout, /failed \(0 of the 2 updates needed arrived by the deadline/);
    assertOneLine(waited.stderr);
  });

  it("refusals are one line: publishing with an API key, joining without the base, joining with no open round", async () => {
    const forbidden = await runCli(["federate", "publish", coordinator.url, "--key", FLEET_KEY, "--base", "stories:base"], { env });
    assert.equal(forbidden.code, 2);
    assertOneLine(forbidden.stderr);
    assert.match(forbidden.stderr, /may not call the admin API/);
    const noRound = await runCli(["federate", "join", coordinator.url, "--key", FLEET_KEY, "--key-file", join(home, "fed", "private.pem"), "--key-id", "dev-a", "--text", home], { env });
    assert.equal(noRound.code, 3);
    assert.match(noRound.stderr, /has no open round/);
    await runCli(["federate", "publish", coordinator.url, "--key", ADMIN_KEY, "--base", "stories:base", "--deadline", "60"], { env });
    const noBase = await runCli(["federate", "join", coordinator.url, "--key", FLEET_KEY, "--key-file", join(home, "fed", "private.pem"), "--key-id", "dev-a", "--text", home], { env });
    assert.equal(noBase.code, 3, noBase.stderr);
    assertOneLine(noBase.stderr);
    assert.match(noBase.stderr, /no model in this device's store has that SHA-256/);
    const missingFlag = await runCli(["federate", "join", coordinator.url], { env });
    assert.equal(missingFlag.code, 2);
    assert.match(missingFlag.stderr, /--key-file/);
  });
});
