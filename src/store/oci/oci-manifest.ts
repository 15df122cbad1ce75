/**
 * The OCI / Docker manifest and index shapes edgelm reads (checked with zod
 * at the edge, so a registry's odd answer is a clear error, not a crash).
 */
import { z } from "zod";
import { EdgeError } from "../../errors.js";

export const descriptorSchema = z.looseObject({
  mediaType: z.string().min(1),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 hex digits>"),
  size: z.number().int().min(0),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
});

export const imageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const imageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
});

export type Descriptor = z.infer<typeof descriptorSchema>;
export type ImageManifest = z.infer<typeof imageManifestSchema>;
export type ImageIndex = z.infer<typeof imageIndexSchema>;

/** Parses JSON bytes against a schema; a mismatch names the field. */
export function parseOciJson<T>(schema: z.ZodType<T>, bytes: Buffer, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new EdgeError("unsupported", `${what} is not valid JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new EdgeError("unsupported", `${what} is not a valid OCI manifest: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  return result.data;
}

/** Canonical-enough JSON bytes for what we write (no whitespace, key order as built). */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}
