/**
 * Ed25519 public keys as configuration gives them: PEM (SPKI, as
 * `openssl pkey -pubout` writes), or the raw 32-byte key in base64 or
 * base64url (as most Ed25519 libraries export it).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { EdgeError } from "../errors.js";

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow. */
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Parses `text` as an Ed25519 public key; `what` names it in the error (e.g. the config path). */
export function ed25519PublicKey(text: string, what: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith("-----BEGIN")) {
      key = createPublicKey(trimmed);
    } else {
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error("neither PEM nor base64");
      const raw = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
      if (raw.length !== 32) throw new Error(`a raw Ed25519 key has 32 bytes, this one ${raw.length}`);
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
    }
  } catch (error) {
    throw new EdgeError("invalid_config", `${what}: not an Ed25519 public key (PEM, or the raw 32 bytes in base64): ${(error as Error).message}`, { param: what });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EdgeError("invalid_config", `${what}: a ${key.asymmetricKeyType ?? "non-Ed25519"} key; commands are signed with Ed25519`, { param: what });
  }
  return key;
}

/** Parses an unencrypted Ed25519 private key (PKCS#8 PEM, as `edgelm keygen --curve ed25519` writes); `what` names it in errors. */
export function ed25519PrivateKey(pem: string | Buffer, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new EdgeError("invalid_config", `${what}: not a PEM private key: ${(error as Error).message}`, { param: what });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new EdgeError("invalid_config", `${what}: a ${key.asymmetricKeyType ?? "non-Ed25519"} key; federated updates are signed with Ed25519 (edgelm keygen --curve ed25519)`, { param: what });
  }
  return key;
}

/** The raw 32-byte public half of an Ed25519 key, in base64 (what config's public_key fields take). */
export function ed25519PublicBase64(key: KeyObject): string {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ type: "spki", format: "der" });
  return der.subarray(SPKI_PREFIX.length).toString("base64");
}
