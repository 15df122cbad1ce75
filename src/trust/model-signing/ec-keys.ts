/**
 * Elliptic-curve keys as OpenSSF Model Signing uses them: ECDSA over P-256,
 * P-384 or P-521, each with its own hash (SHA-256/384/512), DER signatures,
 * and a key "hint" that is the SHA-256 of the public key as PEM SPKI.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { EdgeError } from "../../errors.js";

export type EcCurve = "P-256" | "P-384" | "P-521";

const CURVES: Record<string, { curve: EcCurve; hash: "sha256" | "sha384" | "sha512" }> = {
  prime256v1: { curve: "P-256", hash: "sha256" },
  secp384r1: { curve: "P-384", hash: "sha384" },
  secp521r1: { curve: "P-521", hash: "sha512" },
};

/** The curve of an EC key; `unsupported` for RSA, Ed25519 or other curves. */
export function ecCurveOf(key: KeyObject, what: string): EcCurve {
  const named = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const entry = named ? CURVES[named] : undefined;
  if (!entry) {
    const kind = key.asymmetricKeyType === "ec" ? `EC curve ${named ?? "?"}` : `${key.asymmetricKeyType ?? "unknown"} key`;
    throw new EdgeError("unsupported", `${what} is a ${kind}; OpenSSF Model Signing uses ECDSA on P-256, P-384 or P-521`);
  }
  return entry.curve;
}

/** The hash ECDSA uses with a curve (the curve's size, as the reference implementation does). */
export function ecHashOf(key: KeyObject, what: string): "sha256" | "sha384" | "sha512" {
  const curve = ecCurveOf(key, what);
  return curve === "P-256" ? "sha256" : curve === "P-384" ? "sha384" : "sha512";
}

/** SHA-256 (hex) of the public key re-exported as PEM SPKI: the bundle's `publicKey.hint`. */
export function publicKeyHint(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "pem" }) as string).digest("hex");
}

/** True when two public keys are the same key (compared as DER SPKI). */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return (a.export({ type: "spki", format: "der" }) as Buffer).equals(b.export({ type: "spki", format: "der" }) as Buffer);
}

/**
 * Reads a public key from PEM text (text before the PEM block, as certtool
 * writes, is fine). A private key is accepted too: its public half is used.
 */
export function parsePublicKeyPem(pem: string | Buffer, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new EdgeError("invalid_request", `${what} is not a PEM public key`);
  }
  ecCurveOf(key, what);
  return key;
}

/** Reads an unencrypted PEM private key (PKCS#8 or SEC1). */
export function parsePrivateKeyPem(pem: string | Buffer, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    const encrypted = /ENCRYPTED/.test(String(pem)) || /passphrase/i.test((error as Error).message);
    throw new EdgeError("invalid_request", `${what} is not ${encrypted ? "an unencrypted" : "a PEM"} private key`);
  }
  ecCurveOf(key, what);
  return key;
}

/** ECDSA signature (DER) over `data` with the curve's hash. */
export function ecdsaSign(privateKey: KeyObject, data: Uint8Array): Buffer {
  return sign(ecHashOf(privateKey, "the signing key"), data, { key: privateKey, dsaEncoding: "der" });
}

/** Checks an ECDSA DER signature; false (never a throw) for a malformed one. */
export function ecdsaVerify(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(ecHashOf(publicKey, "the public key"), data, { key: publicKey, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

/** A new key pair: PKCS#8 private PEM and SPKI public PEM. */
export function generateEcKeyPair(curve: EcCurve = "P-256"): { privatePem: string; publicPem: string; hint: string } {
  const namedCurve = Object.entries(CURVES).find(([, v]) => v.curve === curve)![0];
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    publicPem: publicKey.export({ type: "spki", format: "pem" }) as string,
    hint: publicKeyHint(publicKey),
  };
}
