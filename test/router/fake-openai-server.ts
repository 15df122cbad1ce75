/**
 * A small OpenAI-compatible server owned by the tests, standing in for a cloud
 * provider or a peer: it echoes the last user message back ("echo: ...") as an
 * SSE stream in small pieces (or, offered tools, calls the first one with the
 * message as `{"echo": ...}`, as OpenAI streams calls), records what it received,
 * and can be told to fail, stall or refuse.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export type FakeMode = "ok" | "error500" | "error429" | "stall" | "drop-before-first-token";

export interface FakeOpenAIServer {
  url: string;
  received: Array<{ path: string; body: Record<string, unknown>; headers: IncomingMessage["headers"] }>;
  mode: FakeMode;
  /** Characters per streamed piece. */
  pieceSize: number;
  close(): Promise<void>;
}

export async function startFakeOpenAI(name = "cloud"): Promise<FakeOpenAIServer> {
  const state = { received: [] as FakeOpenAIServer["received"], mode: "ok" as FakeMode, pieceSize: 3 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (d: Buffer) => (raw += d.toString()));
    req.on("end", () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      state.received.push({ path: req.url ?? "", body, headers: req.headers });
      if (state.mode === "error500") return void res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"boom"}}');
      if (state.mode === "error429") return void res.writeHead(429, { "retry-after": "1" }).end('{"error":{"message":"slow down"}}');
      if (state.mode === "stall") return; // never answers
      if (state.mode === "drop-before-first-token") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      const messages = body.messages as Array<{ role: string; content: string }> | undefined;
      const input = messages ? messages.filter((m) => m.role === "user").at(-1)?.content ?? "" : String(body.prompt ?? "");
      const answer = `${name} echo: ${input}`;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const tools = body.tools as Array<{ function: { name: string } }> | undefined;
      if (tools && tools.length > 0 && body.tool_choice !== "none") {
        const args = JSON.stringify({ echo: input });
        const deltas = [{ index: 0, id: "call_fake1", type: "function", function: { name: tools[0]!.function.name, arguments: "" } }];
        for (let i = 0; i < args.length; i += state.pieceSize) deltas.push({ index: 0, function: { arguments: args.slice(i, i + state.pieceSize) } } as never);
        for (const d of deltas) res.write(`data: ${JSON.stringify({ id: "x", choices: [{ index: 0, delta: { tool_calls: [d] }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ id: "x", choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] })}\n\n`);
        return void res.end("data: [DONE]\n\n");
      }
      const chat = messages !== undefined;
      for (let i = 0; i < answer.length; i += state.pieceSize) {
        const piece = answer.slice(i, i + state.pieceSize);
        const choice = chat ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null };
        res.write(`data: ${JSON.stringify({ id: "x", object: "chunk", choices: [choice] })}\n\n`);
      }
      const last = chat ? { index: 0, delta: {}, finish_reason: "stop" } : { index: 0, text: "", finish_reason: "stop" };
      res.write(`data: ${JSON.stringify({ id: "x", choices: [last] })}\n\n`);
      res.write(`data: ${JSON.stringify({ id: "x", choices: [], usage: { prompt_tokens: 7, completion_tokens: answer.length } })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as FakeOpenAIServer;
}
