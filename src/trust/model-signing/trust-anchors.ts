/**
 * What a verifier trusts: public keys (key method), root CA certificates
 * (certificate method), and identities with a Sigstore trusted root (keyless).
 * Built from files named on the command line or in the `trust` config section.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { EdgeError, toEdgeError } from "../../errors.js";
import { parsePublicKeyPem, publicKeyHint } from "./ec-keys.js";

export interface TrustedKey {
  key: KeyObject;
  /** The key's hint (SHA-256 of its PEM SPKI), as v1.1 bundles name it. */
  hint: string;
  /** Where it came from (a file path), for messages. */
  source: string;
}

export interface TrustedCa {
  certificate: X509Certificate;
  source: string;
}

export interface TrustedIdentity {
  /** The certificate's subject alternative name (an email or a workflow URI). */
  identity: string;
  /** The OIDC issuer recorded in the certificate. */
  issuer: string;
}

export interface TrustAnchors {
  keys: TrustedKey[];
  rootCas: TrustedCa[];
  identities: TrustedIdentity[];
  /** Path of a Sigstore trusted_root.json, needed for keyless verification (offline). */
  sigstoreTrustedRoot?: string;
}

export interface TrustAnchorFiles {
  keys?: readonly string[];
  rootCas?: readonly string[];
  identities?: readonly TrustedIdentity[];
  sigstoreTrustedRoot?: string;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw toEdgeError(error, `cannot read ${what} ${path}`);
  }
}

/** A trusted public key from PEM text. */
export function trustedKeyFromPem(pem: string, source: string): TrustedKey {
  const key = parsePublicKeyPem(pem, source);
  return { key, hint: publicKeyHint(key), source };
}

/** Every certificate in a PEM file (a bundle of roots is fine). */
export function certificatesFromPem(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new EdgeError("invalid_request", `${source} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new EdgeError("invalid_request", `certificate #${i + 1} in ${source} is not a valid X.509 certificate`);
    }
  });
}

/** Reads trust anchors from files. Missing or malformed files fail with the file named. */
export function loadTrustAnchors(files: TrustAnchorFiles): TrustAnchors {
  const anchors: TrustAnchors = {
    keys: (files.keys ?? []).map((path) => trustedKeyFromPem(readText(path, "public key"), path)),
    rootCas: (files.rootCas ?? []).flatMap((path) =>
      certificatesFromPem(readText(path, "root CA certificate"), path).map((certificate) => ({ certificate, source: path })),
    ),
    identities: [...(files.identities ?? [])],
  };
  if (files.sigstoreTrustedRoot !== undefined) anchors.sigstoreTrustedRoot = files.sigstoreTrustedRoot;
  return anchors;
}

/** True when the anchors can vouch for nothing at all. */
export function hasNoAnchors(anchors: TrustAnchors): boolean {
  return anchors.keys.length === 0 && anchors.rootCas.length === 0 && anchors.identities.length === 0;
}
