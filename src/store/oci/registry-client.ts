/**
 * A client for one OCI registry (distribution spec v2, as Docker's registry
 * 2.8 speaks it): manifests, blobs and uploads, with the three ways in —
 * anonymous, basic, and the bearer token flow a `WWW-Authenticate: Bearer
 * realm=…,service=…,scope=…` challenge asks for. HTTPS unless the registry is
 * listed in `store.oci.insecure`; extra CAs from `store.oci.ca`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { Config } from "../../config/schema.js";
import { EdgeError, isEdgeError, toEdgeError } from "../../errors.js";
import { httpRequest, TLS_CERTIFICATE_CODES, type HttpRequestOptions } from "../http-request.js";
import { MANIFEST_ACCEPT } from "./media-types.js";
import { findRegistryCredential, type RegistryCredential } from "./registry-credentials.js";

/** A request body: bytes, or a function opening a fresh stream (called again when auth makes us resend). */
export type RequestBody = Buffer | (() => Readable);

export interface RegistryRequest {
  method: HttpRequestOptions["method"];
  /** A path under the registry (`/v2/...`) or an absolute URL (an upload's Location). */
  path: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** The token scope this request needs, e.g. `repository:team/model:pull`. */
  scope: string;
}

/** Largest manifest or config read into memory (bytes); registries cap manifests at 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** `sha256:<hex>` of bytes. */
export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(" ");
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const pattern = /([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g;
  for (const match of header.slice(space + 1).matchAll(pattern)) params[match[1]!.toLowerCase()] = match[2] ?? match[3] ?? "";
  return { scheme, params };
}

/** Reads a whole (small) body; more than `limit` bytes is an error. */
export async function readBody(response: IncomingMessage, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      response.destroy();
      throw new EdgeError("payload_too_large", `the registry sent more than ${limit} bytes where a manifest or config was expected`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The registry's own error text (`{"errors":[{"code","message"}]}`), when it sent one. */
async function registryReason(response: IncomingMessage): Promise<string> {
  try {
    const body = await readBody(response, 64 * 1024);
    const errors = (JSON.parse(body.toString("utf8")) as { errors?: Array<{ code?: string; message?: string }> }).errors ?? [];
    return errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
  } catch {
    return "";
  }
}

export class RegistryClient {
  readonly registry: string;
  readonly origin: string;
  private readonly credential: RegistryCredential | undefined;
  private readonly ca: string[];
  /** Authorization headers that worked, by scope. */
  private readonly authorizations = new Map<string, string>();

  /** @param registry `host[:port]` as in the reference. */
  constructor(
    registry: string,
    private readonly config: Config,
  ) {
    this.registry = registry;
    const insecure = config.store.oci.insecure.some((host) => host.toLowerCase() === registry);
    this.origin = `${insecure ? "http" : "https"}://${registry}`;
    this.credential = findRegistryCredential(config, registry);
    this.ca = config.store.oci.ca.map((path) => {
      try {
        return readFileSync(path, "utf8");
      } catch (error) {
        throw toEdgeError(error, `store.oci.ca: cannot read ${path}`);
      }
    });
  }

  private timeouts() {
    return { connectTimeoutMs: this.config.store.connect_timeout_ms, stallTimeoutMs: this.config.store.stall_timeout_ms };
  }

  private url(path: string): URL {
    return path.startsWith("http://") || path.startsWith("https://") ? new URL(path) : new URL(path, this.origin);
  }

  /** One HTTP request with the configured CAs and timeouts; a TLS failure says what to configure. */
  private async request(url: URL, options: Pick<HttpRequestOptions, "method" | "headers" | "body">): Promise<IncomingMessage> {
    try {
      return await httpRequest(url, { ...options, ...(this.ca.length > 0 ? { ca: this.ca } : {}), ...this.timeouts() });
    } catch (error) {
      const code = isEdgeError(error) ? String(error.details?.code ?? "") : "";
      const hint = TLS_CERTIFICATE_CODES.has(code)
        ? `; if ${this.registry} uses its own CA, add that certificate to store.oci.ca`
        : code === "EPROTO"
          ? `; if ${this.registry} speaks plain HTTP, list it in store.oci.insecure (EDGELM_OCI_INSECURE), else check its port`
          : "";
      if (!hint || !isEdgeError(error)) throw error;
      throw new EdgeError(error.code, `${error.message}${hint}`, { ...(error.details ? { details: error.details } : {}), cause: error });
    }
  }

  /**
   * Sends a request, answering one authentication challenge (401) and sending
   * it again. A second 401 is an `unauthorized` error naming where the
   * credentials came from.
   */
  async send(request: RegistryRequest): Promise<IncomingMessage> {
    for (let round = 0; ; round++) {
      const url = this.url(request.path);
      // Credentials go only to the registry itself, never to a redirect target (e.g. blob storage).
      const auth = url.origin === this.origin ? this.authorizations.get(request.scope) ?? this.authorizations.get("*") : undefined;
      const body = typeof request.body === "function" ? request.body() : request.body;
      const response = await this.request(url, {
        method: request.method,
        headers: { ...request.headers, ...(auth ? { authorization: auth } : {}) },
        ...(body !== undefined ? { body } : {}),
      });
      if (response.statusCode !== 401 || round > 0 || url.origin !== this.origin) return response;
      const challenge = response.headers["www-authenticate"];
      response.resume();
      if (typeof challenge !== "string") return response;
      await this.authenticate(challenge, request.scope);
    }
  }

  private async authenticate(header: string, scope: string): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const credential = this.credential;
    const basic =
      credential?.username !== undefined ? `Basic ${Buffer.from(`${credential.username}:${credential.password ?? ""}`).toString("base64")}` : undefined;
    if (scheme === "basic") {
      if (!basic) throw this.unauthorized("it asks for a user and password");
      this.authorizations.set("*", basic);
      return;
    }
    if (scheme !== "bearer") throw this.unauthorized(`it asks for "${scheme}" authentication, which edgelm does not speak`);
    if (credential?.token) {
      this.authorizations.set(scope, `Bearer ${credential.token}`);
      return;
    }
    const realm = params.realm;
    if (!realm) throw this.unauthorized("its Bearer challenge names no realm");
    const tokenUrl = new URL(realm);
    if (params.service) tokenUrl.searchParams.set("service", params.service);
    for (const s of new Set([params.scope ?? scope, scope].filter((s) => s.length > 0 && s !== "*"))) tokenUrl.searchParams.append("scope", s);
    const response = await this.request(tokenUrl, { method: "GET", headers: basic ? { authorization: basic } : {} });
    if (response.statusCode !== 200) {
      response.resume();
      throw this.unauthorized(`its token service ${tokenUrl.origin} answered HTTP ${response.statusCode}`);
    }
    let token: string | undefined;
    try {
      const data = JSON.parse((await readBody(response, 1 << 20)).toString("utf8")) as { token?: string; access_token?: string };
      token = data.token ?? data.access_token;
    } catch {
      token = undefined;
    }
    if (!token) throw this.unauthorized(`its token service ${tokenUrl.origin} sent no token`);
    this.authorizations.set(scope, `Bearer ${token}`);
  }

  private unauthorized(why: string): EdgeError {
    const login = this.credential ? `the credentials from ${this.credential.origin}` : "no credentials (none configured for this registry)";
    return new EdgeError(
      "unauthorized",
      `${this.registry} refused access: ${why}; edgelm sent ${login} — set store.oci.credentials["${this.registry}"] or log in with docker login`,
      { details: { registry: this.registry } },
    );
  }

  /** An error for an unexpected status, with the registry's own reason. */
  async statusError(response: IncomingMessage, what: string): Promise<EdgeError> {
    const status = response.statusCode ?? 0;
    const reason = await registryReason(response);
    const details = { registry: this.registry, status, ...(reason ? { reason } : {}) };
    const text = `${what}: ${this.registry} answered HTTP ${status}${reason ? ` (${reason})` : ""}`;
    if (status === 401 || status === 403) {
      const login = this.credential ? `the credentials from ${this.credential.origin}` : "no credentials";
      return new EdgeError("unauthorized", `${text}; edgelm sent ${login}`, { details });
    }
    if (status === 404) return new EdgeError("model_not_found", text, { details });
    return new EdgeError("download_failed", text, { details });
  }

  /**
   * GETs a manifest (by tag or digest) with the Accept list of every manifest
   * kind edgelm reads; checks its digest against a pinned one.
   */
  async getManifest(repository: string, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const response = await this.send({
      method: "GET",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scope: `repository:${repository}:pull`,
    });
    if (response.statusCode !== 200) throw await this.statusError(response, `cannot get the manifest ${repository}:${reference}`);
    const bytes = await readBody(response);
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new EdgeError("integrity_mismatch", `the manifest ${repository}@${reference} from ${this.registry} has digest ${digest}; refusing it`, {
        details: { expected: reference, actual: digest },
      });
    }
    const header = response.headers["content-type"];
    let mediaType = (typeof header === "string" ? header : "").split(";")[0]!.trim();
    try {
      mediaType = (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType ?? mediaType;
    } catch {
      throw new EdgeError("unsupported", `the manifest ${repository}:${reference} from ${this.registry} is not JSON`);
    }
    return { bytes, mediaType, digest };
  }

  /** GETs a small blob (a config) into memory and checks its digest. */
  async getSmallBlob(repository: string, digest: string): Promise<Buffer> {
    const response = await this.openBlob(repository, digest, 0);
    if (response.statusCode !== 200) throw await this.statusError(response, `cannot get blob ${digest} of ${repository}`);
    const bytes = await readBody(response);
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new EdgeError("integrity_mismatch", `blob ${digest} of ${repository} on ${this.registry} has digest ${actual}; refusing it`, {
        details: { expected: digest, actual },
      });
    }
    return bytes;
  }

  /** GETs a blob from `offset` (a Range request when > 0), following the registry's redirect to its storage. */
  async openBlob(repository: string, digest: string, offset: number): Promise<IncomingMessage> {
    let path = `/v2/${repository}/blobs/${digest}`;
    for (let hop = 0; hop < 5; hop++) {
      const response = await this.send({
        method: "GET",
        path,
        headers: { "accept-encoding": "identity", ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
        scope: `repository:${repository}:pull`,
      });
      const location = response.headers.location;
      if ((response.statusCode ?? 0) >= 300 && (response.statusCode ?? 0) < 400 && location) {
        response.resume();
        path = new URL(location, this.url(path)).href;
        continue;
      }
      return response;
    }
    throw new EdgeError("download_failed", `too many redirects fetching blob ${digest} from ${this.registry}`);
  }

  /** HEAD a blob: its size when the repository has it, else undefined. */
  async blobSize(repository: string, digest: string, scope = `repository:${repository}:pull`): Promise<number | undefined> {
    const response = await this.send({ method: "HEAD", path: `/v2/${repository}/blobs/${digest}`, scope });
    response.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.statusError(response, `cannot check blob ${digest} of ${repository}`);
    return Number(response.headers["content-length"] ?? 0);
  }

  /** PUTs a manifest under a tag or digest with its exact media type; returns the digest the registry computed. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subject: boolean }> {
    const response = await this.send({
      method: "PUT",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      body: bytes,
      scope: `repository:${repository}:pull,push`,
    });
    if (response.statusCode !== 201) throw await this.statusError(response, `cannot push the manifest ${repository}:${reference}`);
    response.resume();
    const digest = sha256Digest(bytes);
    const stated = response.headers["docker-content-digest"];
    if (typeof stated === "string" && stated !== digest) {
      throw new EdgeError("integrity_mismatch", `${this.registry} stored the manifest ${repository}:${reference} as ${stated}, not ${digest}`);
    }
    return { digest, subject: typeof response.headers["oci-subject"] === "string" };
  }
}
