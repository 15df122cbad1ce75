/**
 * A real HTTP server on 127.0.0.1 that behaves like the Hugging Face hub for
 * downloads, plus a second server playing its CDN:
 *
 *   HEAD/GET /<owner>/<repo>/resolve/<rev>/<file>  →  302 to the CDN, with
 *     X-Linked-Etag (the SHA-256), X-Linked-Size, X-Repo-Commit; 404 with
 *     X-Error-Code for unknown repositories/files; 307 (same host) for a
 *     renamed repository.
 *   GET /blobs/<sha>  on the CDN  →  the bytes, with Range support (206,
 *     Content-Range, 416), and faults on demand: drop the connection after N
 *     body bytes, stall after N bytes, ignore Range.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface HubFileSpec {
  owner: string;
  repo: string;
  file: string;
  revision?: string;
  content: Buffer;
  /** What X-Linked-Etag says (default: the content's real SHA-256); null = send none. */
  advertisedSha256?: string | null;
  /** Serve from the resolve URL itself (200, no redirect), as the hub does for small non-LFS files. */
  noRedirect?: boolean;
  /** 401/403 with this hub error code instead of the file (e.g. "GatedRepo"). */
  denied?: { status: number; code: string };
}

export interface CdnFaults {
  /** Drop the connection after this many body bytes, for the next `dropTimes` GETs. */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** Send this many body bytes, then go silent (connection left open). */
  stallAfterBytes?: number;
  stallTimes?: number;
  /** Answer 200 with the whole file even when asked for a range. */
  ignoreRange?: boolean;
}

export interface LoggedRequest {
  server: "hub" | "cdn";
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

export const COMMIT = "0123456789abcdef0123456789abcdef01234567";

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  readonly faults: CdnFaults = {};
  /** "old-owner/old-repo" → "new-owner/new-repo" (answered with a same-host 307). */
  readonly renamed = new Map<string, string>();
  private readonly files = new Map<string, HubFileSpec>();
  private readonly blobs = new Map<string, Buffer>();
  private hub!: Server;
  private cdn!: Server;
  url = "";
  cdnUrl = "";

  static async start(): Promise<FakeHub> {
    const fake = new FakeHub();
    fake.hub = createServer((req, res) => fake.handleHub(req, res));
    fake.cdn = createServer((req, res) => fake.handleCdn(req, res));
    fake.url = await listen(fake.hub);
    fake.cdnUrl = await listen(fake.cdn);
    return fake;
  }

  add(spec: HubFileSpec): void {
    this.files.set(`${spec.owner}/${spec.repo}/${spec.revision ?? "main"}/${spec.file}`, spec);
    this.blobs.set(sha256(spec.content), spec.content);
  }

  countRequests(server: "hub" | "cdn"): number {
    return this.requests.filter((r) => r.server === server).length;
  }

  async close(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private log(server: "hub" | "cdn", req: IncomingMessage): void {
    this.requests.push({
      server,
      method: req.method ?? "?",
      path: req.url ?? "",
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  private handleHub(req: IncomingMessage, res: ServerResponse): void {
    this.log("hub", req);
    const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURI((req.url ?? "").split("?")[0]!));
    if (!match) {
      res.writeHead(404, { "x-error-code": "RepoNotFound" }).end("Repository not found");
      return;
    }
    const [, owner, repo, revision, file] = match as unknown as [string, string, string, string, string];
    const renamedTo = this.renamed.get(`${owner}/${repo}`);
    if (renamedTo) {
      res.writeHead(307, { location: `/${renamedTo}/resolve/${revision}/${file}` }).end();
      return;
    }
    const spec = this.files.get(`${owner}/${repo}/${revision}/${file}`);
    if (!spec) {
      const repoKnown = [...this.files.values()].some((f) => f.owner === owner && f.repo === repo);
      res.writeHead(404, { "x-error-code": repoKnown ? "EntryNotFound" : "RepoNotFound" }).end("not found");
      return;
    }
    if (spec.denied) {
      res.writeHead(spec.denied.status, { "x-error-code": spec.denied.code }).end("denied");
      return;
    }
    const real = sha256(spec.content);
    const advertised = spec.advertisedSha256 === undefined ? real : spec.advertisedSha256;
    const headers: Record<string, string> = { "x-repo-commit": COMMIT, etag: `W/"${randomBytes(20).toString("hex")}"` };
    if (advertised !== null) headers["x-linked-etag"] = `"${advertised}"`;
    if (spec.noRedirect) {
      this.serveBytes(req, res, spec.content, headers);
      return;
    }
    headers["x-linked-size"] = String(spec.content.length);
    headers.location = `${this.cdnUrl}/blobs/${real}?X-Amz-Signature=${randomBytes(8).toString("hex")}`;
    const body = `Found. Redirecting to ${headers.location}`;
    res.writeHead(302, { ...headers, "content-length": String(Buffer.byteLength(body)) });
    res.end(req.method === "HEAD" ? undefined : body);
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    this.log("cdn", req);
    const match = /^\/blobs\/([0-9a-f]{64})/.exec(req.url ?? "");
    const content = match ? this.blobs.get(match[1]!) : undefined;
    if (!content) {
      res.writeHead(404).end();
      return;
    }
    this.serveBytes(req, res, content, {});
  }

  /** Serves bytes with Range support and the configured faults. */
  private serveBytes(req: IncomingMessage, res: ServerResponse, content: Buffer, headers: Record<string, string>): void {
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range && !this.faults.ignoreRange) {
      start = Number(range[1]);
      if (start >= content.length) {
        res.writeHead(416, { "content-range": `bytes */${content.length}` }).end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${content.length - 1}/${content.length}`;
    }
    const body = content.subarray(start);
    res.writeHead(status, { ...headers, "accept-ranges": "bytes", "content-length": String(body.length) });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const f = this.faults;
    if (f.dropAfterBytes !== undefined && (f.dropTimes ?? 1) > 0) {
      f.dropTimes = (f.dropTimes ?? 1) - 1;
      res.write(body.subarray(0, f.dropAfterBytes), () => res.socket?.destroy());
      return;
    }
    if (f.stallAfterBytes !== undefined && (f.stallTimes ?? 1) > 0) {
      f.stallTimes = (f.stallTimes ?? 1) - 1;
      res.write(body.subarray(0, f.stallAfterBytes)); // then nothing, until the client gives up
      return;
    }
    res.end(body);
  }
}
