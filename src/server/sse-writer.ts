/** Server-sent events (OpenAI streaming): `data: <json>` events, an `error` event, `data: [DONE]`. */
import type { ServerResponse } from "node:http";
import { StreamWriter } from "./stream-writer.js";

export class SseWriter extends StreamWriter {
  constructor(res: ServerResponse, headers: Record<string, string> = {}) {
    super(res, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      // No `connection` header of our own: Node's server answers `keep-alive` or, when the request asked
      // for `Connection: close`, `close` and closes the socket after the stream ends.
      // Reverse proxies (nginx) must not buffer a token stream.
      "x-accel-buffering": "no",
      ...headers,
    });
  }

  data(value: unknown): void {
    this.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** A named event (`event: <name>`), as the Responses API streams them. */
  event(name: string, value: unknown): void {
    this.write(`event: ${name}\ndata: ${JSON.stringify(value)}\n\n`);
  }

  /** An event whose data is already JSON text. */
  json(text: string): void {
    this.write(`data: ${text}\n\n`);
  }

  /** An in-band failure after the headers went out; clients such as the `openai` package raise it. */
  error(value: unknown): void {
    this.write(`event: error\ndata: ${JSON.stringify(value)}\n\n`);
  }

  done(): void {
    this.write("data: [DONE]\n\n");
  }
}
