/**
 * Sigstore keyless: a short-lived Fulcio certificate whose subject alternative
 * name and OIDC issuer say who signed, and a Rekor entry that proves when.
 * Checked offline against a trusted_root.json with @sigstore/verify (chain to
 * Fulcio, log inclusion, timestamps), then the identity against the policy.
 * The DSSE signature is checked first, with node:crypto, so an altered payload
 * is reported as such rather than as a log mismatch.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toSignedEntity, toTrustMaterial, Verifier, type TrustMaterial } from "@sigstore/verify";
import { EdgeError, toEdgeError } from "../../errors.js";
import { dssePreAuthEncoding } from "./dsse-pae.js";
import { ecdsaVerify } from "./ec-keys.js";
import type { SignatureBundle } from "./signature-bundle.js";
import type { Signer } from "./signer.js";
import type { TrustedIdentity } from "./trust-anchors.js";

const materials = new Map<string, TrustMaterial>();

/** Loads (once per path) a Sigstore trusted_root.json. */
export function loadSigstoreTrustMaterial(path: string): TrustMaterial {
  const cached = materials.get(path);
  if (cached) return cached;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw toEdgeError(error, `cannot read the Sigstore trusted root ${path}`);
  }
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(text)));
  } catch (error) {
    throw new EdgeError("invalid_request", `${path} is not a Sigstore trusted_root.json (${(error as Error).message})`);
  }
  materials.set(path, material);
  return material;
}

function sigstoreErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

/** Verifies a keyless bundle; returns the signer when its identity is trusted. */
export function verifyKeylessMethod(
  bundle: SignatureBundle,
  identities: readonly TrustedIdentity[],
  trustedRootPath: string | undefined,
): Signer {
  if (bundle.material.kind !== "keyless") throw new EdgeError("internal", "verifyKeylessMethod needs a keyless bundle");
  if (identities.length === 0) {
    throw new EdgeError("untrusted_signer", "model.sig is a Sigstore keyless signature, but no trusted identity was given (--identity with --issuer, or trust.identities)");
  }
  if (trustedRootPath === undefined) {
    throw new EdgeError("usage", "verifying a Sigstore keyless signature offline needs a trusted root: --trusted-root FILE or trust.trusted_root");
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(bundle.material.certificate);
  } catch {
    throw new EdgeError("signature_invalid", "model.sig: the signing certificate is not a valid X.509 certificate");
  }
  if (!ecdsaVerify(certificate.publicKey, dssePreAuthEncoding(bundle.payloadType, bundle.payload), bundle.signature)) {
    throw new EdgeError("signature_invalid", "model.sig's signature does not verify with its signing certificate: the signature or its signed payload was altered");
  }
  const material = loadSigstoreTrustMaterial(trustedRootPath);
  let identity: { subjectAlternativeName?: string; extensions?: { issuer?: string } } | undefined;
  try {
    const entity = toSignedEntity(bundleFromJSON(bundle.json));
    identity = new Verifier(material).verify(entity).identity;
  } catch (error) {
    const code = sigstoreErrorCode(error);
    const reason = error instanceof Error ? error.message : String(error);
    if (code === "TLOG_BODY_ERROR" || code === "SIGNATURE_ERROR") {
      throw new EdgeError("signature_invalid", `model.sig's transparency-log entry does not match its signature (${reason})`);
    }
    if (code === undefined) throw new EdgeError("signature_invalid", `model.sig is not a valid Sigstore bundle (${reason})`);
    throw new EdgeError("untrusted_signer", `model.sig's keyless signature is not vouched for by the trusted root ${trustedRootPath}: ${reason} (${code})`, {
      details: { sigstoreCode: code },
    });
  }
  const san = identity?.subjectAlternativeName ?? "";
  const issuer = identity?.extensions?.issuer ?? "";
  if (!identities.some((t) => t.identity === san && t.issuer === issuer)) {
    throw new EdgeError(
      "untrusted_signer",
      `model.sig was signed by ${san || "(no identity)"} via ${issuer || "(no issuer)"}, which is not a trusted identity (trusted: ${identities.map((t) => `${t.identity} via ${t.issuer}`).join(", ")})`,
      { details: { identity: san, issuer } },
    );
  }
  return { method: "keyless", identity: san, issuer };
}
