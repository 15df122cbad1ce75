/** Newline-delimited JSON (Ollama streaming): one object per line; errors as `{"error": ...}` lines. */
import type { ServerResponse } from "node:http";
import { StreamWriter } from "./stream-writer.js";

export class NdjsonWriter extends StreamWriter {
  constructor(res: ServerResponse, headers: Record<string, string> = {}) {
    super(res, { "content-type": "application/x-ndjson", "cache-control": "no-cache", ...headers });
  }

  line(value: unknown): void {
    this.write(`${JSON.stringify(value)}\n`);
  }
}
