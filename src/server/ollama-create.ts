/**
 * Ollama's /api/create: a new model in the store from another model (`from`:
 * a store entry or a served model), or from uploaded blobs (`files`: one GGUF
 * by its sha256), with the structured fields current clients send (`system`,
 * `template`, `parameters`, `quantize`) or a Modelfile (`modelfile`, older
 * clients), with LoRA adapters (`adapters`, Modelfile ADAPTER: uploaded blobs,
 * checked and stored as adapter entries by ollama-create-adapters.ts, applied
 * to every request of the new model). MESSAGE / `messages` is refused with a
 * 400 naming it; parameters are checked against Ollama's option names and the
 * template against the subset edgelm renders, before anything is written.
 */
import { basename } from "node:path";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { EdgeError } from "../errors.js";
import type { ManifestSettings } from "../store/manifest.js";
import { removeUnusedAdapters } from "../store/unused-adapters.js";
import { sha256File } from "../trust/file-hash.js";
import { formatStoreName, parseStoreName } from "../store/model-ref.js";
import { createModel, type CreateBase } from "../store/create-model.js";
import { ModelStore } from "../store/model-store.js";
import { parseBlobDigest, UploadedBlobs } from "../store/uploaded-blobs.js";
import type { ApiDialect } from "./api-dialect.js";
import { scopeOf } from "./app.js";
import type { DialectHost } from "./app-host.js";
import { addParameter, parseModelfile, type Modelfile } from "./modelfile.js";
import { checkCreateAdapters, storeCreateAdapters, type CreateAdapter, type CreateBaseFile } from "./ollama-create-adapters.js";
import { modelName, runWithStatus } from "./ollama-progress.js";
import { ollamaOptionsSchema } from "./ollama-schemas.js";
import { parseTemplate } from "./ollama-template.js";
import { fieldPath } from "./request-validation.js";
import { parseBody } from "./request-validation.js";

const createSchema = z.object({
  model: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  from: z.string().min(1).optional(),
  files: z.record(z.string(), z.string()).optional(),
  adapters: z.record(z.string(), z.string()).optional(),
  template: z.string().optional(),
  system: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  license: z.union([z.string(), z.array(z.string())]).optional(),
  messages: z.array(z.unknown()).optional(),
  quantize: z.string().min(1).optional(),
  /** Older clients: the quantization type under this name. */
  quantization: z.string().min(1).optional(),
  /** Older clients: the Modelfile's text. */
  modelfile: z.string().optional(),
  stream: z.boolean().optional(),
});
type CreateBody = z.infer<typeof createSchema>;

export function registerCreateRoute(app: FastifyInstance, host: DialectHost, dialect: ApiDialect): void {
  app.post("/api/create", async (request, reply) => {
    const scope = scopeOf(request, "ollama.create");
    const body = parseBody(createSchema, request.body);
    const models = host.storeModels;
    if (!models) throw new EdgeError("unsupported", "this server has no model store");
    let target;
    try {
      target = parseStoreName(modelName(body), "model");
    } catch (error) {
      throw new EdgeError("invalid_request", `model: ${(error as Error).message}`, { param: "model" });
    }
    const plan = createPlan(body);
    const store = ModelStore.open(models.config);
    const uploads = new UploadedBlobs(store);
    const base = await baseOf(plan, store, uploads, host);
    const reference = formatStoreName(target);
    const modelFile = plan.adapters.length > 0 ? await baseFile(base, plan) : undefined;
    const adapters = modelFile ? await checkCreateAdapters(plan.adapters, modelFile, target, store, uploads) : [];
    return runWithStatus(reply, scope, body.stream !== false, dialect, async (status) => {
      status({ status: base.kind === "entry" ? `using existing layer sha256:${base.entry.model.sha256}` : `using layer ${base.fileName}` });
      if (plan.quantize) status({ status: `quantizing model to ${plan.quantize}` });
      await models.forgetStoreModel(reference);
      const replaced = adaptersOf(store, reference);
      for (const adapter of adapters) status({ status: `using adapter layer sha256:${adapter.blob}` });
      const applied = modelFile ? await storeCreateAdapters(adapters, { name: reference, path: modelFile.path, sha256: modelFile.sha256 }, models.config, uploads) : [];
      const entry = await createModel(target, base, models.config, {
        settings: plan.settings,
        ...(plan.quantize ? { quantize: plan.quantize } : {}),
        ...(applied.length > 0 ? { adapters: applied } : {}),
        progress: (e) => {
          if (e.total) status({ status: e.label, digest: "", total: e.total, completed: e.done });
        },
      });
      if (plan.blob) await uploads.release(plan.blob);
      await removeUnusedAdapters(store, replaced);
      status({ status: `creating new layer sha256:${entry.model.sha256}` });
      status({ status: "writing manifest" });
    });
  });
}

interface CreatePlan {
  from?: string;
  /** The uploaded GGUF's sha256 and its file name. */
  blob?: string;
  blobName?: string;
  settings: ManifestSettings;
  quantize?: string;
  /** LoRA adapters (uploaded blobs) to apply to every request. */
  adapters: CreateAdapter[];
}

/** The request as one plan: the Modelfile's lines under the structured fields, everything checked. */
function createPlan(body: CreateBody): CreatePlan {
  const modelfile: Modelfile = body.modelfile !== undefined ? parseModelfile(body.modelfile) : { parameters: {}, adapters: [] };
  const adapters: CreateAdapter[] = [
    ...modelfile.adapters.map((blob) => ({ fileName: `@sha256:${blob}`, blob })),
    ...Object.entries(body.adapters ?? {}).map(([fileName, digest]) => {
      try {
        return { fileName, blob: parseBlobDigest(digest) };
      } catch (error) {
        throw new EdgeError("invalid_request", `adapters: ${fileName}: ${(error as Error).message}`, { param: "adapters" });
      }
    }),
  ];
  if (body.messages && body.messages.length > 0) {
    throw new EdgeError("unsupported", "messages: stored conversations are not supported; send them with each /api/chat request", { param: "messages" });
  }
  const parameters: Record<string, unknown> = { ...modelfile.parameters };
  for (const [key, value] of Object.entries(body.parameters ?? {})) {
    if (key === "stop" && typeof value === "string") addParameter(parameters, key, value);
    else parameters[key] = value;
  }
  const checked = ollamaOptionsSchema.safeParse(parameters);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const key = issue.code === "unrecognized_keys" ? issue.keys[0]! : fieldPath(issue.path);
    throw new EdgeError("invalid_request", `parameters.${key}: ${issue.code === "unrecognized_keys" ? "not an Ollama option" : issue.message}`, { param: `parameters.${key}` });
  }
  const template = body.template ?? modelfile.template;
  if (template !== undefined) parseTemplate(template);
  const system = body.system ?? modelfile.system;
  const settings: ManifestSettings = {
    ...(system !== undefined ? { system } : {}),
    ...(template !== undefined ? { template } : {}),
    ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
  };
  const plan: CreatePlan = { settings, adapters };
  const quantize = body.quantize ?? body.quantization;
  if (quantize) plan.quantize = quantize;
  if (quantize && adapters.length > 0) {
    throw new EdgeError("unsupported", `adapters: a model with LoRA adapters cannot be quantized on the way (an adapter fits the file it was made for, not a quantized copy); quantize the base first, then create the model from it with its adapters`, { param: "adapters" });
  }
  const files = Object.entries(body.files ?? {});
  if (files.length > 0) {
    const ggufs = files.filter(([name]) => name.toLowerCase().endsWith(".gguf"));
    const others = files.filter(([name]) => !name.toLowerCase().endsWith(".gguf"));
    if (others.length > 0) throw new EdgeError("unsupported", `files: ${others[0]![0]}: only GGUF files are supported (safetensors and other formats are not)`, { param: "files" });
    if (ggufs.length !== 1) throw new EdgeError("unsupported", `files: exactly one GGUF file is supported (got ${ggufs.length})`, { param: "files" });
    plan.blob = parseBlobDigest(ggufs[0]![1]);
    plan.blobName = basename(ggufs[0]![0]);
  } else {
    const from = body.from ?? modelfile.from;
    if (!from) throw new EdgeError("invalid_request", "from: required (a model name), or files with an uploaded GGUF blob", { param: "from" });
    plan.from = from;
  }
  return plan;
}

/** The model the new one is made of: an uploaded blob, a store entry, or a served model's file (never an arbitrary path). */
async function baseOf(plan: CreatePlan, store: ModelStore, uploads: UploadedBlobs, host: DialectHost): Promise<CreateBase> {
  if (plan.blob) {
    const path = await uploads.locate(plan.blob);
    if (!path) throw new EdgeError("invalid_request", `files: blob sha256:${plan.blob} has not been uploaded; POST it to /api/blobs/sha256:${plan.blob} first`, { param: "files" });
    return { kind: "file", path, fileName: plan.blobName!, from: null };
  }
  const from = plan.from!;
  try {
    const entry = store.get(parseStoreName(from, "from"));
    if (entry) return { kind: "entry", entry };
  } catch {
    // not a store name
  }
  let status;
  try {
    status = host.directory.lookup(from).describe();
  } catch {
    throw new EdgeError("model_not_found", `from: model "${from}" is neither in the store nor served here (pull it first with /api/pull; local paths are not accepted)`, { param: "from" });
  }
  if (!status.path) throw new EdgeError("unsupported", `from: ${from} is not a local model`, { param: "from" });
  return { kind: "file", path: status.path, fileName: basename(status.path), from: status.name };
}

/** The model file the new model serves, with its SHA-256 (a store entry's from its manifest, an upload's from its digest). */
async function baseFile(base: CreateBase, plan: CreatePlan): Promise<CreateBaseFile> {
  if (base.kind === "entry") return { label: base.entry.reference, path: base.entry.model.path, sha256: base.entry.model.sha256 };
  if (plan.blob) return { label: base.fileName, path: base.path, sha256: plan.blob };
  return { label: base.from ?? base.fileName, path: base.path, sha256: await sha256File(base.path) };
}

/** The adapter entries the store entry `reference` applies now (none when it does not exist or cannot be read). */
function adaptersOf(store: ModelStore, reference: string): string[] {
  try {
    return (store.get(reference)?.manifest.adapters ?? []).map((a) => a.name);
  } catch {
    return [];
  }
}
