/**
 * Debian's docker-registry (distribution 2.8) started by a test on 127.0.0.1
 * with its own config file (never the system one, which enables htpasswd on
 * :5000): anonymous, htpasswd (basic), or a bearer token realm the test
 * serves; plain HTTP or HTTPS with a certificate from a CA the test makes.
 * A recording proxy can sit in front to count requests and cut a transfer.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../../src/free-port.js";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";

export interface RegistryOptions {
  /** `basic`: htpasswd with user/password; `token`: a bearer token realm served by the fixture. */
  auth?: "basic" | "token";
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by the fixture's CA (`caPath`). */
  tls?: boolean;
}

export const USER = "edge";
export const PASSWORD = "kiosk-secret";

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export class TestRegistry {
  /** `127.0.0.1:<port>` as references name it. */
  host = "";
  /** Set for `tls`: the PEM of the CA that signed the registry's certificate. */
  caPath = "";
  /** Requests the token realm answered: scope and whether basic credentials came with them. */
  readonly tokenRequests: Array<{ scope: string[]; authorized: boolean }> = [];
  private child: ChildProcess | undefined;
  private tokenServer: Server | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "edgelm-registry-"));
  private log = "";

  private constructor(private readonly options: RegistryOptions) {}

  static async start(options: RegistryOptions = {}): Promise<TestRegistry> {
    const registry = new TestRegistry(options);
    await registry.launch();
    return registry;
  }

  /** Where the registry keeps a blob's bytes (to damage one on purpose). */
  blobDataPath(digest: string): string {
    const hex = digest.replace(/^sha256:/, "");
    return join(this.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
  }

  private async launch(): Promise<void> {
    const port = await freePort();
    this.host = `127.0.0.1:${port}`;
    const lines = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${join(this.dir, "data")}`, "http:", `  addr: 127.0.0.1:${port}`];
    if (this.options.tls) {
      const pki = join(this.dir, "pki");
      mkdirSync(pki);
      openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=edgelm test CA"], pki);
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], pki);
      writeFileSync(join(pki, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
      openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"], pki);
      this.caPath = join(pki, "ca.pem");
      lines.push("  tls:", `    certificate: ${join(pki, "server.pem")}`, `    key: ${join(pki, "server.key")}`);
    }
    if (this.options.auth === "basic") {
      const htpasswd = execFileSync("htpasswd", ["-Bbn", USER, PASSWORD]).toString();
      writeFileSync(join(this.dir, "htpasswd"), htpasswd);
      lines.push("auth:", "  htpasswd:", "    realm: edgelm-test", `    path: ${join(this.dir, "htpasswd")}`);
    }
    if (this.options.auth === "token") {
      const realm = await this.startTokenServer();
      lines.push("auth:", "  token:", `    realm: ${realm}`, "    service: edgelm-test-registry", "    issuer: edgelm-test-issuer", `    rootcertbundle: ${join(this.dir, "token.pem")}`);
    }
    const configPath = join(this.dir, "config.yml");
    writeFileSync(configPath, `${lines.join("\n")}\n`);
    this.child = spawn(REGISTRY_BINARY, ["serve", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d: Buffer) => (this.log += d.toString()));
    this.child.stderr!.on("data", (d: Buffer) => (this.log += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`docker-registry exited: ${this.log}`);
      if (await this.answers()) return;
      if (Date.now() > deadline) throw new Error(`docker-registry did not start on ${this.host}: ${this.log}`);
      await sleep(100);
    }
  }

  private answers(): Promise<boolean> {
    const send = this.options.tls ? import("node:https").then((m) => m.request) : Promise.resolve(request);
    return send.then(
      (req) =>
        new Promise<boolean>((resolve) => {
          const r = req(`${this.options.tls ? "https" : "http"}://${this.host}/v2/`, { rejectUnauthorized: false }, (res: IncomingMessage) => {
            res.resume();
            resolve(true);
          });
          r.on("error", () => resolve(false));
          r.end();
        }),
    );
  }

  /** A token realm like Docker Hub's: GET ?service&scope → {"token": JWT signed with a key whose certificate the registry trusts}. */
  private async startTokenServer(): Promise<string> {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "token.key", "-out", "token.pem", "-days", "2", "-subj", "/CN=edgelm token issuer"], this.dir);
    const key = createPrivateKey(readFileSync(join(this.dir, "token.key")));
    const certDer = Buffer.from(readFileSync(join(this.dir, "token.pem"), "utf8").replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    this.tokenServer = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const auth = req.headers.authorization ?? "";
      const authorized = auth === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
      const scopes = url.searchParams.getAll("scope");
      this.tokenRequests.push({ scope: scopes, authorized });
      if (!authorized) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"wrong user or password"}');
        return;
      }
      const access = scopes.map((s) => {
        const [type, name, actions] = s.split(":");
        return { type, name, actions: (actions ?? "").split(",") };
      });
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: "ES256", typ: "JWT", x5c: [certDer.toString("base64")] };
      const claims = { iss: "edgelm-test-issuer", sub: USER, aud: url.searchParams.get("service"), exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
      const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
      const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `${input}.${base64url(signature)}` }));
    });
    await new Promise<void>((resolve) => this.tokenServer!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.tokenServer.address() as { port: number }).port}/token`;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.once("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    await new Promise<void>((resolve) => (this.tokenServer ? this.tokenServer.close(() => resolve()) : resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One request the proxy passed on. */
export interface ProxiedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  /** Request body bytes forwarded. */
  bytesIn: number;
}

/**
 * A plain HTTP proxy in front of a registry (reverse proxy: the client talks
 * to it as if it were the registry). It records every request and can cut a
 * blob download after some bytes, once.
 */
export class RecordingProxy {
  readonly requests: ProxiedRequest[] = [];
  /** Cut the next GET of this blob digest after this many body bytes. */
  cut: { digest: string; afterBytes: number } | undefined;
  host = "";
  private server: Server | undefined;

  constructor(private readonly upstream: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const record: ProxiedRequest = { method: req.method ?? "", path: req.url ?? "", headers: { ...req.headers }, status: 0, bytesIn: 0 };
      this.requests.push(record);
      req.on("data", (chunk: Buffer) => (record.bytesIn += chunk.length));
      const headers = { ...req.headers, host: this.upstream };
      const out = request(`http://${this.upstream}${req.url}`, { method: req.method, headers }, (up) => {
        record.status = up.statusCode ?? 0;
        const location = up.headers.location;
        const rewritten = typeof location === "string" ? location.replace(`//${this.upstream}`, `//${this.host}`) : location;
        res.writeHead(up.statusCode ?? 502, { ...up.headers, ...(rewritten ? { location: rewritten } : {}) });
        const cut = this.cut;
        if (cut && req.method === "GET" && req.url?.includes(`/blobs/${cut.digest}`) && (up.statusCode === 200 || up.statusCode === 206)) {
          this.cut = undefined;
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            if (sent + chunk.length >= cut.afterBytes) {
              res.write(chunk.subarray(0, cut.afterBytes - sent));
              res.socket?.destroy();
              up.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          up.on("end", () => res.end());
          return;
        }
        up.pipe(res);
      });
      out.on("error", () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.host = `127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Requests matching method and a path fragment. */
  matching(method: string, fragment: string | RegExp): ProxiedRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof fragment === "string" ? r.path.includes(fragment) : fragment.test(r.path)));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
