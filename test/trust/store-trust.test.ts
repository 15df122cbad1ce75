import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempHome, TEST_MODEL } from "../helpers.js";

describe("trust policy for store entries (signature checked against the manifest)", () => {
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  before(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: join(home, "edgelm") };
  });
  after(() => cleanup());

  it("runs a trusted signed entry, refuses unsigned and untrusted ones under require_signature", async () => {
    const keys = join(home, "keys");
    const other = join(home, "other-keys");
    assert.equal((await runCli(["keygen", "--out", keys], { env })).code, 0);
    assert.equal((await runCli(["keygen", "--out", other], { env })).code, 0);
    const folder = (name: string): string => {
      const dir = join(home, name);
      mkdirSync(dir, { recursive: true });
      copyFileSync(TEST_MODEL, join(dir, "model.gguf"));
      return dir;
    };
    const trusted = folder("trusted");
    const untrusted = folder("untrusted");
    const changed = folder("changed");
    assert.equal((await runCli(["sign", trusted, "--key", join(keys, "private.pem")], { env })).code, 0);
    assert.equal((await runCli(["sign", untrusted, "--key", join(other, "private.pem")], { env })).code, 0);
    assert.equal((await runCli(["sign", changed, "--key", join(keys, "private.pem")], { env })).code, 0);
    appendFileSync(join(changed, "model.gguf"), "x"); // changed after signing, before import
    for (const [dir, name] of [[trusted, "m:trusted"], [untrusted, "m:untrusted"], [changed, "m:changed"]] as const) {
      assert.equal((await runCli(["add", dir, "--name", name], { env })).code, 0);
    }
    assert.equal((await runCli(["add", TEST_MODEL, "--name", "m:unsigned"], { env })).code, 0);
    writeFileSync(join(env.EDGELM_HOME!, "config.yaml"), `trust:\n  require_signature: true\n  keys: [${join(keys, "public.pem")}]\n`);

    const ok = await runCli(["run", "m:trusted", "Once upon a time", "-n", "5", "-t", "0"], { env });
    assert.equal(ok.code, 0, ok.stderr);
    const refusals: Array<[string, RegExp]> = [
      ["m:unsigned", /unsigned and trust.require_signature is on/],
      ["m:untrusted", /not trusted|untrusted/i],
      ["m:changed", /model\.gguf/],
    ];
    for (const [name, pattern] of refusals) {
      const r = await runCli(["run", name, "Once upon a time", "-n", "5"], { env });
      assert.equal(r.code, 4, `${name}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});
