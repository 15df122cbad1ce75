/**
 * One file of a model as a signature covers it, and the root digest that ties
 * them together (the in-toto subject's sha256).
 */
import { createHash } from "node:crypto";

/** A file of a model: `name` relative to the model root ("." for a single-file model), hex SHA-256. */
export interface ModelResource {
  name: string;
  sha256: string;
}

/**
 * The root digest: SHA-256 over the concatenated raw (not hex) resource
 * digests, in the order given (the payload's order).
 */
export function rootDigestOf(hexDigests: readonly string[]): string {
  const hash = createHash("sha256");
  for (const hex of hexDigests) hash.update(Buffer.from(hex, "hex"));
  return hash.digest("hex");
}

/**
 * Orders resources as the reference implementation does: by path components
 * ("a/b" before "a-c"), each compared by code point (UTF-8 byte order).
 */
export function compareResourceNames(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = Buffer.compare(Buffer.from(pa[i]!, "utf8"), Buffer.from(pb[i]!, "utf8"));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}
