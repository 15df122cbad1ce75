/**
 * Signing what this device makes (quantized variants, fine-tuned versions, adapters) with its own key,
 * `trust.local_key`, when one is configured: OpenSSF Model Signing, the file signed as resource ".".
 */
import { readFile } from "node:fs/promises";
import type { Config } from "../config/schema.js";
import { toEdgeError } from "../errors.js";
import { parsePrivateKeyPem } from "./model-signing/ec-keys.js";
import { signModel } from "./model-signing/sign-model.js";

/**
 * Writes `signaturePath` for `file` with trust.local_key. Returns false (and writes nothing) when no key is set.
 * Errors: io_error / file_not_found when the key cannot be read, and signModel's.
 */
export async function signWithLocalKey(file: string, config: Config, signaturePath: string): Promise<boolean> {
  const keyPath = config.trust.local_key;
  if (keyPath === undefined) return false;
  const pem = await readFile(keyPath).catch((error: unknown) => {
    throw toEdgeError(error, `trust.local_key: cannot read ${keyPath}`);
  });
  await signModel(file, { privateKey: parsePrivateKeyPem(pem, keyPath), signaturePath });
  return true;
}
