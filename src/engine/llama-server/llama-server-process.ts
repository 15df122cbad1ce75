/**
 * One llama-server child process and the HTTP client that talks to it.
 *
 * It listens on a Unix socket in a private (0700) temporary folder when the
 * build supports it, else on 127.0.0.1 and a free port; every call carries a
 * random per-process API key (read by llama-server from a 0600 file, so it
 * never shows in the process list). It is started without a shell, with
 * `setpriv --pdeathsig SIGKILL` when available so it never outlives the
 * gateway, and its stdout/stderr go to our log tagged with the runner.
 *
 * (Over 350 lines: process start-up, the authenticated HTTP client over the
 * socket and the streaming reader share the endpoint, key and exit state of one
 * process; the command line is llama-server-args.ts.)
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { EdgeError } from "../../errors.js";
import { logger, type LogLevel } from "../../log.js";
import { llamaServerArgs, type LlamaServerEndpoint, type LlamaServerLaunch } from "./llama-server-args.js";
import { sanitizedEnv, type LlamaServerBinary } from "./llama-server-binary.js";
import { freePort } from "../../free-port.js";
import { processAlive } from "../../process-alive.js";
import { describeExit } from "../runner-lifecycle.js";
import { runnerPid } from "../sandbox/engine-pid.js";
import type { RunnerSandbox } from "../sandbox/runner-sandbox.js";
import { spawnRunner } from "../sandbox/spawn-sandboxed.js";

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** An answer from llama-server with a status other than 2xx. */
export class LlamaServerHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { message?: string; type?: string; [key: string]: unknown },
  ) {
    super(body.message ?? `llama-server answered ${status}`);
  }
}

export interface LlamaServerProcessOptions {
  binary: LlamaServerBinary;
  launch: LlamaServerLaunch;
  /** Prefix of every log line, e.g. "runner stories#3". */
  label: string;
  logLevel: LogLevel;
  /** How long loading may take, in ms. */
  startTimeoutMs: number;
  /** Confines the process (src/engine/sandbox); absent: a plain child process. */
  sandbox?: RunnerSandbox;
  /** The model's estimated memory in bytes, for the sandbox's data limit. */
  memoryBytes?: number;
}

/** How often /health is polled while the model loads, in ms. */
const HEALTH_POLL_MS = 25;

let pdeathsig: string[] | undefined;

/** `setpriv --pdeathsig SIGKILL --` when util-linux's setpriv is there: the child dies with us, even on SIGKILL. */
function deathSignalLauncher(): string[] {
  if (pdeathsig) return pdeathsig;
  const probe = spawnSync("setpriv", ["--help"], { encoding: "utf8", timeout: 5000 });
  pdeathsig = probe.status === 0 && /--pdeathsig/.test(probe.stdout ?? "") ? ["setpriv", "--pdeathsig", "SIGKILL", "--"] : [];
  return pdeathsig;
}

const FOLDER_PREFIX = "edgelm-llama-";
let swept = false;

/** Removes, once per process, the private folders of runners whose gateway process is gone. */
function sweepStaleFolders(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(FOLDER_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const folder = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(folder, "owner"), "utf8"));
      if (!Number.isInteger(owner) || owner <= 0 || processAlive(owner)) continue;
      rmSync(folder, { recursive: true, force: true });
    } catch {
      // not ours, or already gone
    }
  }
}

export class LlamaServerProcess {
  private child: ChildProcess | undefined;
  private readonly folder: string;
  private readonly apiKey = randomBytes(24).toString("hex");
  private endpoint: LlamaServerEndpoint | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly recent: string[] = [];
  private exitInfo: ProcessExit | undefined;
  private readonly exitListeners = new Set<(exit: ProcessExit) => void>();
  readonly exited: Promise<ProcessExit>;
  private resolveExited!: (exit: ProcessExit) => void;
  readonly startedAt = performance.now();

  constructor(private readonly options: LlamaServerProcessOptions) {
    sweepStaleFolders();
    this.folder = mkdtempSync(join(tmpdir(), FOLDER_PREFIX));
    // Whose folder this is: a gateway killed outright cannot remove it; the next one does (sweepStaleFolders).
    writeFileSync(join(this.folder, "owner"), `${process.pid}\n`);
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** The process's private folder, also its `--slot-save-path` (slot states are files here). */
  get slotFolder(): string {
    return this.folder;
  }

  get pid(): number | undefined {
    return runnerPid(this.child);
  }

  get exit(): ProcessExit | undefined {
    return this.exitInfo;
  }

  /** The last lines llama-server wrote (for error messages). */
  get lastLines(): string {
    return this.recent.slice(-6).join(" / ");
  }

  onExit(listener: (exit: ProcessExit) => void): void {
    if (this.exitInfo) queueMicrotask(() => listener(this.exitInfo!));
    else this.exitListeners.add(listener);
  }

  /** Starts the process and resolves once /health says the model is loaded. */
  async start(signal?: AbortSignal): Promise<void> {
    const { binary, launch } = this.options;
    const keyFile = join(this.folder, "api-key");
    writeFileSync(keyFile, `${this.apiKey}\n`, { mode: 0o600 });
    this.endpoint = binary.unixSocket ? { socketPath: join(this.folder, "llama.sock") } : { host: "127.0.0.1", port: await freePort() };
    const args = llamaServerArgs(launch, binary, this.endpoint, keyFile, this.options.logLevel, launch.embeddings ? undefined : this.folder);
    // The sandbox adds its own death signal; a plain child gets setpriv's.
    const launcher = this.options.sandbox ? [] : deathSignalLauncher();
    const [command, ...prefix] = launcher.length > 0 ? launcher : [binary.path];
    const child = spawnRunner(
      this.options.sandbox,
      { command: command!, args: [...prefix, ...(launcher.length > 0 ? [binary.path] : []), ...args], programPaths: [dirname(binary.path)], modelPaths: [launch.modelPath, ...(launch.adapters ?? [])], writableDirs: [this.folder], env: sanitizedEnv(), ...(this.options.memoryBytes ? { memoryBytes: this.options.memoryBytes } : {}) },
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.pipeOutput(child);
    const onGone = (code: number | null, sig: NodeJS.Signals | null): void => this.handleExit({ code, signal: sig });
    child.once("exit", onGone);
    child.once("error", (error) => {
      this.remember(`cannot start: ${error.message}`);
      if (child.pid === undefined) onGone(null, null);
    });

    const deadline = performance.now() + this.options.startTimeoutMs;
    for (;;) {
      if (this.exitInfo) {
        throw new EdgeError("model_load_failed", `llama-server exited while loading ${launch.modelPath} (${describeExit(this.exitInfo)}): ${this.lastLines || "no output"}`, {
          details: { phase: "load", ...(this.exitInfo.signal ? { signal: this.exitInfo.signal } : {}) },
        });
      }
      if (signal?.aborted) {
        this.kill("SIGKILL");
        throw new EdgeError("aborted", "loading was cancelled");
      }
      if (performance.now() > deadline) {
        this.kill("SIGKILL");
        throw new EdgeError("model_load_failed", `llama-server did not load ${launch.modelPath} within ${Math.round(this.options.startTimeoutMs / 1000)} s: ${this.lastLines || "no output"}`);
      }
      if (await this.healthy()) return;
      await Promise.race([new Promise((r) => setTimeout(r, HEALTH_POLL_MS)), this.exited]);
    }
  }

  /** True when GET /health answers 200 (the model is loaded). */
  private async healthy(): Promise<boolean> {
    try {
      const response = await this.send("GET", "/health", undefined, AbortSignal.timeout(2000));
      response.resume();
      return response.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** A JSON call; rejects with LlamaServerHttpError for non-2xx answers. */
  async call<T>(method: "GET" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, body, signal);
    const text = await readBody(response);
    const parsed = parseJson(text);
    if ((response.statusCode ?? 500) >= 300) throw new LlamaServerHttpError(response.statusCode ?? 500, errorBody(parsed, text));
    return parsed as T;
  }

  /** A GET whose answer is plain text (e.g. /metrics); rejects with LlamaServerHttpError for non-2xx answers. */
  async text(path: string, signal?: AbortSignal): Promise<string> {
    const response = await this.send("GET", path, undefined, signal);
    const text = await readBody(response);
    if ((response.statusCode ?? 500) >= 300) throw new LlamaServerHttpError(response.statusCode ?? 500, errorBody(parseJson(text), text));
    return text;
  }

  /**
   * Starts a streaming call (SSE). Resolves once llama-server answers with the
   * stream's headers (after its first token); rejects with LlamaServerHttpError
   * when it refuses the request.
   */
  async stream(path: string, body: unknown, signal?: AbortSignal): Promise<SseStream> {
    const response = await this.send("POST", path, body, signal);
    if ((response.statusCode ?? 500) >= 300) {
      const text = await readBody(response);
      throw new LlamaServerHttpError(response.statusCode ?? 500, errorBody(parseJson(text), text));
    }
    return new SseStream(response);
  }

  private send(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const endpoint = this.endpoint;
    if (!endpoint) return Promise.reject(new EdgeError("model_not_ready", "llama-server has not started"));
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          ...("socketPath" in endpoint ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port }),
          path,
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
          },
          ...(signal ? { signal } : {}),
        },
        resolve,
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Resident memory of the process in bytes (Linux /proc; 0 elsewhere). */
  rssBytes(): number {
    const pid = this.pid;
    if (!pid) return 0;
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
      return kb ? Number(kb) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.child && !this.exitInfo) this.child.kill(signal);
  }

  /** Asks the process to stop (SIGTERM), kills it after `timeoutMs`; resolves once it is gone. */
  async stop(timeoutMs: number): Promise<ProcessExit> {
    if (!this.child) {
      this.cleanup();
      return { code: null, signal: null };
    }
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  private handleExit(exit: ProcessExit): void {
    if (this.exitInfo) return;
    this.exitInfo = exit;
    this.cleanup();
    this.resolveExited(exit);
    for (const listener of this.exitListeners) listener(exit);
    this.exitListeners.clear();
  }

  private cleanup(): void {
    this.agent.destroy();
    rmSync(this.folder, { recursive: true, force: true });
  }

  private remember(line: string): void {
    this.recent.push(line);
    if (this.recent.length > 20) this.recent.shift();
  }

  /** llama-server's log lines ("E message", "W message", ...) into our log, tagged with the runner and model. */
  private pipeOutput(child: ChildProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (raw) => {
        const line = raw.replace(/^[\d.]+ /, "");
        const match = /^([EWIDT]) (.*)$/s.exec(line);
        const text = (match?.[2] ?? line).trim();
        if (!text) return;
        this.remember(text);
        // Its errors are mostly refused requests (already answered to the client) and its warnings routine
        // (prompt-cache reuse, cancelled tasks): a warning and debug lines here; a crash quotes the last lines.
        const level: LogLevel = match?.[1] === "E" ? "warn" : "debug";
        logger[level](`${this.options.label}: llama-server: ${text}`);
      });
    }
  }
}


function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    response.on("data", (d: Buffer) => parts.push(d));
    response.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    response.on("error", reject);
    response.on("aborted", () => reject(new Error("the response was cut off")));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorBody(parsed: unknown, text: string): LlamaServerHttpError["body"] {
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (error && typeof error === "object") return error as LlamaServerHttpError["body"];
  return { message: text.trim().slice(0, 300) || "no body" };
}

/**
 * The events of one llama-server SSE response (`data: {json}` blocks), as an
 * async iterable of batches: every event that arrived in one read comes in one
 * batch, so a consumer handles (and forwards) a burst of tokens once.
 * `close()` drops the connection, which makes llama-server cancel the task and
 * free its slot.
 */
export class SseStream implements AsyncIterable<Array<Record<string, unknown>>> {
  constructor(private readonly response: IncomingMessage) {}

  close(): void {
    this.response.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Array<Record<string, unknown>>> {
    let buffer = "";
    this.response.setEncoding("utf8");
    for await (const piece of this.response as AsyncIterable<string>) {
      buffer += piece;
      const batch: Array<Record<string, unknown>> = [];
      let done = false;
      let end: number;
      while (!done && (end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split("\n")) {
          if (!line.startsWith("data: ")) continue; // comments (": ping") and other fields
          const data = line.slice(6);
          if (data === "[DONE]") {
            done = true;
            break;
          }
          const event = parseJson(data);
          if (event && typeof event === "object") batch.push(event as Record<string, unknown>);
        }
      }
      if (batch.length > 0) yield batch;
      if (done) return;
    }
    if (!this.response.complete) throw new Error("the stream was cut off");
  }
}
