/**
 * Ollama's model management over the store: /api/pull (any reference the
 * model sources know: catalog names, hf:, oci://), /api/push (to an oci://
 * reference), /api/delete, /api/copy, /api/blobs/:digest (HEAD, and POST
 * verified against the digest), and /api/create (ollama-create.ts). Long work
 * streams Ollama's NDJSON progress (`{"status": ...}` lines, `{"error"}` once
 * started); `stream: false` answers one object. A pulled, copied or created
 * model is served at once, loaded by its first request (scheduler/on-demand-models.ts).
 */
import { basename } from "node:path";
import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { EdgeError } from "../errors.js";
import { createModel } from "../store/create-model.js";
import { formatStoreName, parseStoreName } from "../store/model-ref.js";
import { ModelStore, resolvedFromEntry, type StoreEntry } from "../store/model-store.js";
import { isOciReference, parseOciReference, pushOci } from "../store/oci/oci-source.js";
import { pullModel } from "../store/resolve-model.js";
import { removeUnusedAdapters } from "../store/unused-adapters.js";
import { parseBlobDigest, UploadedBlobs } from "../store/uploaded-blobs.js";
import { verifyModel } from "../trust/verify-model.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost, StoreModelHost } from "./app-host.js";
import { modelName, progressLines, runWithStatus } from "./ollama-progress.js";
import { registerCreateRoute } from "./ollama-create.js";
import { parseBody } from "./request-validation.js";

const nameFields = { model: z.string().min(1).optional(), name: z.string().min(1).optional() };
const transferSchema = z.object({ ...nameFields, insecure: z.boolean().optional(), stream: z.boolean().optional() });
const deleteSchema = z.object(nameFields);
const copySchema = z.object({ source: z.string().min(1), destination: z.string().min(1) });

/** The store entry a name means, or model_not_found. */
export function requireEntry(store: ModelStore, name: string): StoreEntry {
  let parsed;
  try {
    parsed = parseStoreName(name, "model");
  } catch {
    throw new EdgeError("model_not_found", `model "${name}" not found: it is not a store name`, { param: "model" });
  }
  const entry = store.get(parsed);
  if (!entry) throw new EdgeError("model_not_found", `model "${formatStoreName(parsed)}" not found in the store`, { param: "model" });
  return entry;
}

/** Adds the model management routes to the Ollama dialect. */
export function registerModelRoutes(app: FastifyInstance, host: DialectHost, dialect: ApiDialect): void {
  const models = (): StoreModelHost => {
    if (!host.storeModels) throw new EdgeError("unsupported", "this server has no model store");
    return host.storeModels;
  };
  const store = (): ModelStore => ModelStore.open(models().config);

  app.post("/api/pull", async (request, reply) => {
    const scope = scopeOf(request, "ollama.pull");
    const body = parseBody(transferSchema, request.body);
    const name = modelName(body);
    const { config } = models();
    return runWithStatus(reply, scope, body.stream !== false, dialect, async (status) => {
      status({ status: "pulling manifest" });
      let digest = "";
      const progress = progressLines("pulling", () => digest || "0".repeat(64), status);
      const pulled = await pullModel(name, config, { progress });
      const entry = pulled.entry;
      await models().forgetStoreModel(entry.reference); // a new file under a known name is served fresh
      for (const file of entry.files) {
        digest = file.sha256;
        status({ status: `pulling ${file.sha256.slice(0, 12)}`, digest: `sha256:${file.sha256}`, total: file.size, completed: file.size });
      }
      status({ status: "verifying sha256 digest" });
      await verifyModel(resolvedFromEntry(entry), config);
      status({ status: "writing manifest" });
    });
  });

  app.post("/api/push", async (request, reply) => {
    const scope = scopeOf(request, "ollama.push");
    const body = parseBody(transferSchema, request.body);
    const name = modelName(body);
    if (!isOciReference(name)) {
      throw new EdgeError(
        "unsupported",
        `push needs an oci:// reference to a registry (e.g. oci://registry.local:5000/team/model:1), got "${name}"; copy the model to <repository>:<tag> first with /api/copy`,
        { param: "model" },
      );
    }
    const ref = parseOciReference(name);
    if (!ref.tag) throw new EdgeError("invalid_request", `push needs a tag: ${name} has none (e.g. ${name}:1)`, { param: "model" });
    const entry = requireEntry(store(), `${ref.repository}:${ref.tag}`);
    const { config } = models();
    return runWithStatus(reply, scope, body.stream !== false, dialect, async (status) => {
      status({ status: "retrieving manifest" });
      const progress = progressLines("pushing", () => entry.model.sha256, status);
      const pushed = await pushOci(entry.reference, ref, config, { progress: (e) => (e.label.startsWith("pushing") ? progress(e) : undefined) });
      status({ status: "pushing manifest", digest: pushed.digest });
    });
  });

  app.delete("/api/delete", async (request, reply) => {
    const scope = scopeOf(request, "ollama.delete");
    const body = parseBody(deleteSchema, request.body);
    const entry = requireEntry(store(), modelName(body));
    const configured = models().configuredFor(entry.reference);
    if (configured) {
      throw new EdgeError("usage", `${entry.reference} is served as "${configured}" from server.models; remove it from the configuration before deleting it`, { param: "model" });
    }
    await models().forgetStoreModel(entry.reference);
    await store().remove(entry.reference);
    // The adapter entries a created model applied go with it, unless another model applies them too.
    await removeUnusedAdapters(store(), (entry.manifest.adapters ?? []).map((a) => a.name));
    scope.end({ status: 200 });
    return reply.code(200).send();
  });

  app.post("/api/copy", async (request, reply) => {
    const scope = scopeOf(request, "ollama.copy");
    const body = parseBody(copySchema, request.body);
    let destination;
    try {
      destination = parseStoreName(body.destination, "destination");
    } catch (error) {
      throw new EdgeError("invalid_request", `destination: ${(error as Error).message}`, { param: "destination" });
    }
    const base = copyBase(store(), host, body.source);
    await models().forgetStoreModel(formatStoreName(destination));
    await createModel(destination, base, models().config, base.kind === "entry" && base.entry.manifest.settings ? { settings: base.entry.manifest.settings } : {});
    scope.end({ status: 200 });
    return reply.code(200).send();
  });

  app.head("/api/blobs/:digest", async (request, reply) => {
    const scope = scopeOf(request, "ollama.blobs");
    const hex = parseBlobDigest((request.params as { digest: string }).digest);
    const found = await new UploadedBlobs(store()).locate(hex);
    scope.end({ status: found ? 200 : 404 });
    return reply.code(found ? 200 : 404).send();
  });

  // Blob bodies are bytes, not JSON: their own parser hands the request stream to the route, which hashes it to disk.
  void app.register(async (blobs) => {
    blobs.removeAllContentTypeParsers();
    blobs.addContentTypeParser("*", (_request, payload, done) => done(null, payload));
    blobs.post("/api/blobs/:digest", async (request, reply) => {
      const scope = scopeOf(request, "ollama.blobs");
      const hex = parseBlobDigest((request.params as { digest: string }).digest);
      const body = (request.body as Readable | undefined) ?? request.raw;
      await new UploadedBlobs(store()).receive(hex, body);
      scope.end({ status: 201 });
      return reply.code(201).send();
    });
  });

  registerCreateRoute(app, host, dialect);
}

/** What /api/copy copies: a store entry, else a served model's file. */
function copyBase(store: ModelStore, host: DialectHost, source: string): Parameters<typeof createModel>[1] {
  try {
    const entry = store.get(parseStoreName(source, "source"));
    if (entry) return { kind: "entry", entry };
  } catch {
    // not a store name: maybe a served model
  }
  const status = host.directory.lookup(source).describe();
  if (!status.path) throw new EdgeError("unsupported", `source: ${source} is not a local model (it is routed elsewhere); only local models can be copied`, { param: "source" });
  return { kind: "file", path: status.path, fileName: basename(status.path), from: status.name };
}
