import { z } from "zod";
import { ed25519PublicKey } from "../../trust/ed25519-key.js";

/**
 * The fields of a configured Ed25519 key (signed commands, federated participants): an id that signed messages
 * name, and the public key given inline or as a file.
 */
export const ed25519KeyFields = {
  /** Named by a signed message's `key` field. */
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "1-64 of A-Z, a-z, 0-9, ., - and _"),
  /** The Ed25519 public key: PEM (SPKI), or the raw 32 bytes in base64. */
  public_key: z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      try {
        ed25519PublicKey(text, "public_key");
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    })
    .optional(),
  /** A file holding the public key (PEM or base64), read when the gateway starts. */
  public_key_file: z.string().min(1).optional(),
};

/** Exactly one of public_key and public_key_file. */
export function oneKeySource<T extends { public_key?: string | undefined; public_key_file?: string | undefined }>(schema: z.ZodType<T>) {
  return schema.refine((k) => (k.public_key === undefined) !== (k.public_key_file === undefined), {
    message: "give public_key or public_key_file (one of them)",
    path: ["public_key"],
  });
}
