/** The cloud side of POST /v1/events for tests: deduplicates by Idempotency-Key, as the docs ask receivers to. */
import { createServer, type Server, type ServerResponse } from "node:http";

export interface DedupReceiver {
  server: Server;
  url: string;
  /** Idempotency keys in the order first received. */
  keys: string[];
  /** Every POST, duplicates included. */
  posts(): number;
  /** POSTs received but not answered yet (see holdAfter). */
  held(): number;
  /** Answers the held POSTs and every later one at once. */
  release(): void;
  close(): Promise<void>;
}

export interface DedupReceiverOptions {
  /** After this many distinct keys, later POSTs are received (and counted) but not answered until release(): a sender is then surely mid-forward. */
  holdAfter?: number;
}

/** Listens on 127.0.0.1:`port` (0: any); `check` sees each body with its key (e.g. to assert they match). */
export function startDedupReceiver(port = 0, check: (body: unknown, key: string) => void = () => {}, options: DedupReceiverOptions = {}): Promise<DedupReceiver> {
  const keys: string[] = [];
  const seen = new Set<string>();
  let posts = 0;
  let holding = options.holdAfter !== undefined;
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      posts++;
      const key = req.headers["idempotency-key"] as string;
      check(JSON.parse(body), key);
      if (!seen.has(key)) {
        seen.add(key);
        keys.push(key);
      }
      if (holding && keys.length > options.holdAfter!) {
        held.push(res);
        return;
      }
      res.writeHead(200).end("{}");
    });
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () => {
      const bound = (server.address() as { port: number }).port;
      resolve({
        server,
        url: `http://127.0.0.1:${bound}/v1/events`,
        keys,
        posts: () => posts,
        held: () => held.length,
        release: () => {
          holding = false;
          for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(200).end("{}");
        },
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    }),
  );
}
