/**
 * A store manifest: the JSON file that names a model (`name:tag`) and lists
 * its files — each with the SHA-256 of its bytes, its size and its role — plus
 * where the model came from and, for a variant, the entry it was made from.
 * Blobs hold the bytes; the manifest is what vouches for them.
 */
import { z } from "zod";
import { EdgeError } from "../errors.js";

/** What a file is for: the GGUF to load, its OpenSSF Model Signing `model.sig`, a LoRA adapter, or anything else a folder carried. */
export const FILE_ROLES = ["model", "signature", "adapter", "other"] as const;
export type FileRole = (typeof FILE_ROLES)[number];

/** The name a signature file has in a model folder (OpenSSF Model Signing). */
export const SIGNATURE_FILE = "model.sig";

export const MANIFEST_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");

/** A path relative to the model root: `/`-separated, no empty, `.` or `..` segments. */
const relativeName = z
  .string()
  .min(1)
  .max(4096)
  .refine((name) => isSafeRelativeName(name), "must be a relative path inside the model folder");

export const manifestFileSchema = z
  .object({
    name: relativeName,
    role: z.enum(FILE_ROLES),
    sha256: sha256Hex,
    size: z.number().int().min(0),
  })
  .strict();

const manifestSourceSchema = z.discriminatedUnion("type", [
  /** Imported with `edgelm add` from a file or a folder. */
  z.object({ type: z.literal("file"), path: z.string() }).strict(),
  z.object({ type: z.literal("folder"), path: z.string() }).strict(),
  /** Downloaded from an hf: reference (`ref` is canonical: hf:owner/repo/file@revision). */
  z
    .object({ type: z.literal("hf"), ref: z.string(), url: z.string(), commit: z.string().optional() })
    .strict(),
  /** Downloaded for a catalog name; `ref` is the hf: reference it maps to. */
  z
    .object({ type: z.literal("catalog"), name: z.string(), ref: z.string(), url: z.string(), commit: z.string().optional() })
    .strict(),
  /** Pulled from an OCI registry: `ref` as given, the manifest `digest` it resolved to, the artifact `format`. */
  z
    .object({ type: z.literal("oci"), ref: z.string(), digest: z.string(), format: z.enum(["modelpack", "docker", "ollama"]) })
    .strict(),
  /** Made on this device from another entry (e.g. by `edgelm quantize`). */
  z.object({ type: z.literal("variant"), from: z.string(), tool: z.string().optional() }).strict(),
  /** Fine-tuned on this device from another entry (`edgelm finetune`). */
  z.object({ type: z.literal("fine-tuned"), from: z.string(), tool: z.string() }).strict(),
  /** A LoRA adapter extracted on this device from a fine-tuned version (`from`) of its base (`edgelm lora extract`). */
  z.object({ type: z.literal("extracted"), from: z.string(), tool: z.string() }).strict(),
  /** Made through Ollama's /api/create: from another model (`from`), or from uploaded blobs (`from` null). */
  z.object({ type: z.literal("created"), from: z.string().nullable() }).strict(),
]);

/** A model's own defaults (an Ollama Modelfile's SYSTEM, TEMPLATE and PARAMETER lines), applied by the Ollama dialect. */
export const modelSettingsSchema = z
  .object({
    system: z.string().optional(),
    template: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * How a fine-tuned version was trained: what it was trained on is recorded only as a hash and a size,
 * never the text (nor its file names).
 */
export const trainingRecordSchema = z
  .object({
    /** SHA-256 of the UTF-8 training text (files joined as `edgelm finetune` reads them). */
    data_sha256: sha256Hex,
    data_bytes: z.number().int().min(0),
    data_files: z.number().int().min(1),
    /** Tokens of the training text (BOS included). */
    tokens: z.number().int().min(0),
    /** SHA-256 of the base model file trained from. */
    base_sha256: sha256Hex,
    epochs: z.number().int().min(1),
    learning_rate: z.number().positive(),
    validation_split: z.number().min(0).max(1),
    context_size: z.number().int().min(1),
    optimizer: z.enum(["adamw", "sgd"]),
    /** Last epoch's mean loss (nats per token) and accuracy (0–1), on the training and the validation part. */
    train_loss: z.number(),
    train_accuracy: z.number(),
    val_loss: z.number().nullable(),
    val_accuracy: z.number().nullable(),
    seconds: z.number().min(0),
    /** The trainer that ran (llama.cpp commit). */
    trainer: z.string(),
  })
  .strict();

/**
 * How a federated version was made (`edgelm federate`): the round, who took part (their key ids and token counts)
 * and the round's training and privacy parameters. Never any participant's text.
 */
export const federatedRecordSchema = z
  .object({
    round: z.string(),
    /** SHA-256 of the base model file every delta was relative to. */
    base_sha256: sha256Hex,
    participants: z.array(z.object({ key: z.string(), tokens: z.number().int().min(1), norm: z.number().min(0) }).strict()).min(1),
    total_tokens: z.number().int().min(1),
    epochs: z.number().int().min(1),
    learning_rate: z.number().positive(),
    context_size: z.number().int().min(1),
    clip_norm: z.number().positive(),
    noise_multiplier: z.number().min(0),
    /** The (ε, δ) one round gives each participant's update (ε null without noise: no privacy claim). */
    epsilon: z.number().nullable(),
    delta: z.number(),
  })
  .strict();
/** What an adapter entry's manifest says of its base. */
export const adapterOfSchema = z.object({ name: z.string().min(1), sha256: sha256Hex }).strict();

/**
 * One LoRA adapter a model entry applies to every request (Ollama's ADAPTER): the adapter entry (`name:tag`), the
 * SHA-256 of its file as it was when the model was made (a changed entry is refused at load), and its scale.
 */
export const appliedAdapterSchema = z.object({ name: z.string().min(1), sha256: sha256Hex, scale: z.number().finite() }).strict();

export const manifestSchema = z.looseObject({
  schema_version: z.literal(MANIFEST_VERSION),
  name: z.string().min(1),
  tag: z.string().min(1),
  /** `file`: the model is one file (a signature's resource is "."); `folder`: files keep their relative names. */
  layout: z.enum(["file", "folder"]),
  files: z.array(manifestFileSchema).min(1),
  /** Predominant tensor type of the model file, e.g. "Q8_0" (from our GGUF reader). */
  quantization: z.string().nullable(),
  /** `name:tag` of the entry this one was derived from, or null. */
  variant_of: z.string().nullable(),
  source: manifestSourceSchema,
  /** ISO 8601 time the entry was created. */
  created: z.string(),
  /** Defaults for requests to this model (absent: none). */
  settings: modelSettingsSchema.optional(),
  /** `name:tag` of the entry this one was fine-tuned from (absent: not fine-tuned here). */
  fine_tuned_from: z.string().optional(),
  /** How it was fine-tuned (with fine_tuned_from). */
  training: trainingRecordSchema.optional(),
  /** How a federated round made it (with fine_tuned_from). */
  federated: federatedRecordSchema.optional(),
  /**
   * A LoRA adapter entry: the base it was made for (`name:tag` when stored, and the SHA-256 of the base's model file,
   * which a served model must match). Its one loadable file has the role `adapter`, not `model`.
   */
  adapter_of: adapterOfSchema.optional(),
  /** LoRA adapters (adapter entries of this model's file) applied to every request of this model (absent: none). */
  adapters: z.array(appliedAdapterSchema).optional(),
});

export type ManifestFile = z.infer<typeof manifestFileSchema>;
export type ManifestSource = z.infer<typeof manifestSourceSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestSettings = z.infer<typeof modelSettingsSchema>;
export type TrainingRecord = z.infer<typeof trainingRecordSchema>;
export type FederatedRecord = z.infer<typeof federatedRecordSchema>;
export type AdapterOf = z.infer<typeof adapterOfSchema>;
export type AppliedAdapter = z.infer<typeof appliedAdapterSchema>;

export function isSafeRelativeName(name: string): boolean {
  if (name.startsWith("/") || name.includes("\\") || name.includes("\0")) return false;
  return name.split("/").every((part) => part.length > 0 && part !== "." && part !== "..");
}

/** Checks a manifest read from disk; a damaged one is an error naming the file and the field. */
export function parseManifest(text: string, where: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new EdgeError("io_error", `manifest ${where} is not valid JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new EdgeError("io_error", `manifest ${where} is invalid: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  checkManifestFiles(result.data.files, where, result.data.adapter_of !== undefined);
  return result.data;
}

/**
 * Rules a file list must keep: unique names, a signature only as model.sig, and exactly one model — or, for an
 * adapter entry (`adapter` true), exactly one adapter and no model.
 */
export function checkManifestFiles(files: readonly ManifestFile[], where: string, adapter = false): void {
  const names = new Set<string>();
  for (const file of files) {
    if (names.has(file.name)) throw new EdgeError("io_error", `manifest ${where} lists ${file.name} twice`);
    names.add(file.name);
    if (file.role === "signature" && file.name !== SIGNATURE_FILE) {
      throw new EdgeError("io_error", `manifest ${where}: a signature must be named ${SIGNATURE_FILE}, not ${file.name}`);
    }
  }
  const models = files.filter((f) => f.role === "model").length;
  if (adapter) {
    const adapters = files.filter((f) => f.role === "adapter").length;
    if (models !== 0 || adapters !== 1) throw new EdgeError("io_error", `manifest ${where} is an adapter's: it must list exactly one adapter file and no model (found ${adapters} and ${models})`);
    return;
  }
  if (models !== 1) throw new EdgeError("io_error", `manifest ${where} must list exactly one model file (found ${models})`);
}

/** Stable JSON for a manifest (two-space indent, trailing newline). */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
