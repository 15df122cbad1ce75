/**
 * A GGUF whose chat template loops (the hardening report's template), served
 * beside healthy models on both backends: the model fails to load fast with
 * the limit named, memory stays bounded, nothing is restarted, and the other
 * models serve. A template that explodes only for some messages fails only
 * that request, while another stream on the same runner keeps going.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { testLlamaServer } from "../helpers.js";
import { BOOM_TEMPLATE, HOSTILE_TEMPLATE, writeTemplatedStories } from "../engine/templated-model.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

for (const backend of ["node-llama-cpp", "llama-server"] as const) {
  describe(`chat template limits on ${backend} runners`, () => {
    let fixture: GatewayFixture;
    let openai: OpenAI;
    let dir: string;
    const restarts: string[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "edgelm-tpl-limits-"));
      const hostile = await writeTemplatedStories(dir, HOSTILE_TEMPLATE, {}, "hostile.gguf");
      const boom = await writeTemplatedStories(dir, BOOM_TEMPLATE, {}, "boom.gguf");
      const engine = backend === "llama-server" ? { backend, llama_server: await testLlamaServer() } : { backend };
      fixture = await startGateway({
        models: [storiesModel(), storiesModel({ name: "hostile", ref: hostile }), storiesModel({ name: "boom", ref: boom, parallel: 2 })],
        config: { engine: { ...engine, chat_template: { render_timeout_ms: 3000, memory_mb: 256 } } },
        waitReady: false,
      });
      fixture.gateway.events.on("runner:restart", (e) => restarts.push(e.model));
      openai = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: "unused", maxRetries: 0 });
      await fixture.node.whenReady();
    });
    after(async () => {
      await fixture?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("refuses the model whose template loops, naming the limit; the other models serve", async () => {
      const hostile = fixture.gateway.status("hostile");
      assert.equal(hostile.state, "failed");
      assert.match(hostile.reason ?? "", /hostile: its chat template (did not finish rendering within 3000 ms \(engine\.chat_template\.render_timeout_ms\)|needed more than 256 MiB of memory to render \(engine\.chat_template\.memory_mb\)) on a probe render of a short chat; the model is not loaded/);
      assert.deepEqual(hostile.runners, []);
      assert.deepEqual(restarts, []);
      const ready = await fetch(`${fixture.url}/ready`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as { models: Array<{ name: string; state: string; reason?: string }> };
      assert.deepEqual(body.models.map((m) => [m.name, m.state]), [["stories", "ready"], ["hostile", "failed"], ["boom", "ready"]]);
      await assert.rejects(openai.chat.completions.create({ model: "hostile", messages: [{ role: "user", content: "hi" }], max_tokens: 4 }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError);
        assert.equal(e.status, 503);
        assert.match(e.message, /its chat template .* on a probe render/);
        return true;
      });
      const chat = await openai.chat.completions.create({ model: "stories", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 8, temperature: 0 });
      assert.equal(chat.usage?.completion_tokens, 8);
      // The gateway itself stayed small (the renderer that ran the loop had a 256 MiB heap).
      assert.ok(process.memoryUsage.rss() < 1024 * 2 ** 20, `gateway RSS ${process.memoryUsage.rss()}`);
    });

    it("fails only the request whose messages make the template go past a limit; the runner serves others meanwhile", async () => {
      let failedAt = Infinity;
      const boom = openai.chat.completions
        .create({ model: "boom", messages: [{ role: "user", content: "boom" }], max_tokens: 4 })
        .then(
          () => undefined,
          (e: unknown) => {
            failedAt = performance.now();
            return e;
          },
        );
      // While that render runs (until its 3 s deadline or its 256 MiB heap), the same runner answers others.
      await new Promise((r) => setTimeout(r, 50));
      const other = await openai.chat.completions.create({ model: "boom", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 6, temperature: 0 });
      const otherDoneAt = performance.now();
      assert.equal(other.usage?.completion_tokens, 6);
      const error = await boom;
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.equal(error.status, 422);
      assert.equal((error.error as { code?: string }).code, "unsupported_model");
      assert.match(error.message, /boom: the chat template (did not finish rendering within 3000 ms|needed more than 256 MiB).* for this request's messages; the request was not run/);
      assert.ok(otherDoneAt < failedAt, "the other request waited for the failing render");
      assert.equal(fixture.gateway.status("boom").state, "ready");
      assert.deepEqual(restarts, []);
    });
  });
}
