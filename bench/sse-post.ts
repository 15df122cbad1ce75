/**
 * One streaming POST for the benchmarks: sends a JSON body, splits the SSE
 * answer into `data:` events (up to `[DONE]`) and hands each parsed event to
 * `onEvent` with the time it arrived. Rejects on a non-200 answer or an error
 * event; resolves with the start and end times.
 */
import { request as httpRequest, type Agent } from "node:http";

export function postSse(
  url: URL,
  body: unknown,
  onEvent: (event: Record<string, unknown>, now: number) => void,
  options: { agent?: Agent; headers?: Record<string, string> } = {},
): Promise<{ start: number; end: number }> {
  const payload = JSON.stringify(body);
  return new Promise((resolvePromise, reject) => {
    const start = performance.now();
    let buffer = "";
    const headers = { ...options.headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) };
    const req = httpRequest(url, { method: "POST", headers, ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => reject(new Error(`${url.pathname}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)));
        return;
      }
      res.setEncoding("utf8");
      res.on("data", (data: string) => {
        buffer += data;
        const now = performance.now();
        let at: number;
        while ((at = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          if (!block.startsWith("data: ") || block === "data: [DONE]") continue;
          const event = JSON.parse(block.slice(6)) as Record<string, unknown>;
          if (event.error) {
            reject(new Error(JSON.stringify(event.error)));
            res.destroy();
            return;
          }
          onEvent(event, now);
        }
      });
      res.on("end", () => resolvePromise({ start, end: performance.now() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}
