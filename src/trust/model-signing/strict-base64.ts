/**
 * Base64 decoding that refuses what Buffer.from(..., "base64") silently skips:
 * stray characters, bad padding. Protobuf JSON (which Sigstore bundles use)
 * allows the standard and the URL-safe alphabet, with or without padding.
 */
import { EdgeError } from "../../errors.js";

/** Decodes `value` or throws `signature_invalid` naming `field`. */
export function decodeBase64Field(value: unknown, field: string): Buffer {
  if (typeof value !== "string") throw new EdgeError("signature_invalid", `model.sig: ${field} must be a base64 string`);
  const text = value.replace(/\s+/g, "");
  const body = text.replace(/=+$/, "");
  const padded = text.length !== body.length;
  if (!/^[A-Za-z0-9+/_-]*$/.test(body) || text.length - body.length > 2 || body.length % 4 === 1 || (padded && text.length % 4 !== 0)) {
    throw new EdgeError("signature_invalid", `model.sig: ${field} is not valid base64`);
  }
  return Buffer.from(body.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
