import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { demoModel, startGateway, type GatewayFixture } from "./gateway-fixture.js";

/** Sends one raw HTTP/1.1 request; resolves with the response text once the server closes the socket (or after `waitMs`). */
function rawRequest(url: string, path: string, body: unknown, connection: "close" | "keep-alive", waitMs: number): Promise<{ text: string; closedAfterMs: number | undefined }> {
  const { hostname, port } = new URL(url);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = "";
    let endSeenAt: number | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedAfterMs: undefined });
    }, waitMs);
    socket.on("data", (d: Buffer) => {
      text += d.toString();
      // The end of the stream: [DONE] for SSE, the "done":true line for NDJSON, then the chunked terminator.
      if (endSeenAt === undefined && /\r\n0\r\n\r\n$/.test(text)) endSeenAt = Date.now();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: endSeenAt === undefined ? undefined : Date.now() - endSeenAt });
    });
    socket.on("error", reject);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: ${connection}\r\n\r\n${payload}`,
    );
  });
}

describe("streamed responses honour Connection: close", () => {
  let fixture: GatewayFixture;
  before(async () => {
    fixture = await startGateway({ models: [demoModel({ parallel: 2 })] });
  });
  after(async () => {
    await fixture?.close();
  });

  const cases: Array<[string, string, unknown, RegExp]> = [
    ["OpenAI SSE", "/v1/chat/completions", { model: "demo", messages: [{ role: "user", content: "the cat" }], max_tokens: 4, stream: true }, /data: \[DONE\]/],
    ["OpenAI SSE completions", "/v1/completions", { model: "demo", prompt: "the cat", max_tokens: 4, stream: true }, /data: \[DONE\]/],
    ["Ollama NDJSON", "/api/generate", { model: "demo", prompt: "the cat", options: { num_predict: 4 } }, /"done":true/],
    ["Ollama NDJSON chat", "/api/chat", { model: "demo", messages: [{ role: "user", content: "the cat" }], options: { num_predict: 4 } }, /"done":true/],
  ];
  for (const [name, path, body, end] of cases) {
    it(`${name}: answers connection: close and closes the socket after the end`, async () => {
      const { text, closedAfterMs } = await rawRequest(fixture.url, path, body, "close", 10_000);
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, end);
      const head = text.slice(0, text.indexOf("\r\n\r\n"));
      assert.match(head, /^connection: close$/im);
      assert.doesNotMatch(head, /^connection: keep-alive$/im);
      assert.ok(closedAfterMs !== undefined && closedAfterMs < 2000, `socket closed ${closedAfterMs} ms after the end`);
    });
  }

  it("without Connection: close the stream keeps the connection for the next request", async () => {
    const { text, closedAfterMs } = await rawRequest(fixture.url, "/v1/completions", cases[1]![2], "keep-alive", 500);
    assert.match(text, /data: \[DONE\]/);
    assert.match(text.slice(0, text.indexOf("\r\n\r\n")), /^connection: keep-alive$/im);
    assert.equal(closedAfterMs, undefined);
  });
});
