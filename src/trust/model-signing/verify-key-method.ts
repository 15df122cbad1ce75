/**
 * The key method: an ECDSA signature over the DSSE PAE, checked with one of
 * the trusted public keys. The bundle names its key by hint (v1.1) or carries
 * it (v1.0); that picks the candidate, so a key that is not trusted is told
 * apart from a signature that does not verify.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { EdgeError } from "../../errors.js";
import { dssePreAuthEncoding } from "./dsse-pae.js";
import { ecCurveOf, ecdsaVerify, publicKeyHint, samePublicKey } from "./ec-keys.js";
import type { SignatureBundle } from "./signature-bundle.js";
import type { Signer } from "./signer.js";
import type { TrustedKey } from "./trust-anchors.js";

function embeddedKey(raw: Buffer): KeyObject {
  const text = raw.toString("latin1");
  try {
    return text.includes("-----BEGIN") ? createPublicKey(text) : createPublicKey({ key: raw, format: "der", type: "spki" });
  } catch {
    throw new EdgeError("signature_invalid", "model.sig: publicKey.rawBytes is not a public key");
  }
}

function trustedList(keys: readonly TrustedKey[]): string {
  return keys.map((k) => `${k.hint.slice(0, 16)}… (${k.source})`).join(", ");
}

/** Verifies a key-method bundle against trusted keys; returns the signer. */
export function verifyKeyMethod(bundle: SignatureBundle, keys: readonly TrustedKey[]): Signer {
  if (bundle.material.kind !== "public-key") throw new EdgeError("internal", "verifyKeyMethod needs a public-key bundle");
  const { hint, rawKey } = bundle.material;
  if (keys.length === 0) {
    throw new EdgeError("untrusted_signer", `model.sig is signed with a key${hint ? ` (hint ${hint})` : ""}, but no trusted public key was given (--key, or trust.keys)`);
  }
  let candidates: readonly TrustedKey[] = keys;
  if (hint !== undefined) {
    candidates = keys.filter((k) => k.hint === hint);
    if (candidates.length === 0) {
      throw new EdgeError("untrusted_signer", `model.sig was signed by key ${hint}, which is not a trusted key (trusted: ${trustedList(keys)})`, {
        details: { hint },
      });
    }
  } else if (rawKey !== undefined) {
    const embedded = embeddedKey(rawKey);
    candidates = keys.filter((k) => samePublicKey(k.key, embedded));
    if (candidates.length === 0) {
      const embeddedHint = publicKeyHint(embedded);
      throw new EdgeError("untrusted_signer", `model.sig was signed by key ${embeddedHint}, which is not a trusted key (trusted: ${trustedList(keys)})`, {
        details: { hint: embeddedHint },
      });
    }
  }
  const signed = dssePreAuthEncoding(bundle.payloadType, bundle.payload);
  for (const candidate of candidates) {
    if (ecdsaVerify(candidate.key, signed, bundle.signature)) {
      return { method: "key", keyHint: candidate.hint, curve: ecCurveOf(candidate.key, candidate.source), keySource: candidate.source };
    }
  }
  const which = candidates.length === 1 ? `key ${candidates[0]!.hint}` : `any of ${candidates.length} trusted keys`;
  throw new EdgeError("signature_invalid", `model.sig's signature does not verify with ${which}: the signature or its signed payload was altered`);
}
