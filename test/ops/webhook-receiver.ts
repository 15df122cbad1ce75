/** A real HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it (an alert webhook's receiver). */
import { createServer, type Server } from "node:http";

export class WebhookReceiver {
  readonly bodies: unknown[] = [];
  readonly headers: Array<Record<string, string | string[] | undefined>> = [];
  /** Status to answer with (tests make the receiver fail). */
  status = 200;
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.statusCode = receiver!.status;
        res.end(receiver!.status === 200 ? "ok" : "down");
        if (receiver!.status !== 200) return;
        receiver!.bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        receiver!.headers.push(req.headers);
        receiver!.waiters = receiver!.waiters.filter((w) => {
          if (receiver!.bodies.length < w.count) return true;
          w.resolve();
          return false;
        });
      });
    });
    receiver = new WebhookReceiver(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  get url(): string {
    const { port } = this.server.address() as { port: number };
    return `http://127.0.0.1:${port}/hook`;
  }

  /** Resolves once `count` bodies have arrived (rejects after timeoutMs). */
  waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.bodies.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webhook got ${this.bodies.length} of ${count} posts`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
