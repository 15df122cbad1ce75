/**
 * The OpenSSF Model Signing interop fixtures in ../shared/fixtures/model-signing
 * (signed by the reference model_signing tool), read in place, and helpers to
 * copy one to a temp folder and damage it.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrustAnchorFiles } from "../../src/trust/model-signing/trust-anchors.js";
import { SHARED_FIXTURES } from "../helpers.js";

export const FIXTURES = join(SHARED_FIXTURES, "model-signing");
export const KEYS = join(FIXTURES, "keys/certificate");
export const PUBLIC_KEY = join(KEYS, "signing-key-pub.pem");
export const PRIVATE_KEY = join(KEYS, "signing-key.pem");
export const ROOT_CA = join(KEYS, "ca-cert.pem");
export const TRUSTED_ROOT = join(FIXTURES, "trust/sigstore-public-good-trusted_root.json");
export const IDENTITY = { identity: "stefanb@us.ibm.com", issuer: "https://sigstore.verify.ibm.com/oauth2" };
/** The hint the v1.1 key fixture records for PUBLIC_KEY. */
export const KEY_HINT = "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e";

export interface SigningCase {
  name: string;
  method: "key" | "certificate" | "keyless";
  /** The model to verify, relative to the case folder ("" = the folder). */
  model: string;
  /** Paths the caller must ignore (v1.0.1 did not record them). */
  ignorePaths: string[];
  anchors: TrustAnchorFiles;
  /** File name → sha256 the signature covers. */
  files: Record<string, string>;
  rootDigest: string;
}

const SIGNME_1_KEY = "bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc";
const SIGNME_1_CERT = "f6310066c7320497ea554260c32c43660bff648cb2a61194832cc086077085e1";
const SIGNME_2 = "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028";

const anchorsFor = {
  key: { keys: [PUBLIC_KEY] },
  certificate: { rootCas: [ROOT_CA] },
  keyless: { identities: [IDENTITY], sigstoreTrustedRoot: TRUSTED_ROOT },
} satisfies Record<string, TrustAnchorFiles>;

/** The nine cases and what each must verify to (from the fixtures' README). */
export const SIGNING_CASES: SigningCase[] = ["v1.0.0", "v1.0.1", "v1.1.0"].flatMap((version) =>
  (["key", "certificate", "keyless"] as const).map((method): SigningCase => {
    const folder = `${version}-${method === "key" ? "elliptic-key" : method === "keyless" ? "sigstore" : "certificate"}`;
    const singleFile = folder === "v1.0.0-elliptic-key";
    const files: Record<string, string> = singleFile
      ? { ".": SIGNME_1_KEY }
      : { "signme-1": method === "key" ? SIGNME_1_KEY : SIGNME_1_CERT, "signme-2": SIGNME_2 };
    return {
      name: folder,
      method,
      model: singleFile ? "signme-1" : "",
      ignorePaths: version === "v1.0.1" ? ["ignore-me"] : [],
      anchors: anchorsFor[method],
      files,
      rootDigest: singleFile
        ? "afa48c8674afe334b8a7dea34f7b46ab256e9255edf8da2132792341b667a45b"
        : method === "key"
          ? "92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
          : "61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226",
    };
  }),
);

/** A private copy of a case folder in a temp dir; `cleanup` removes it. */
export function copyCase(name: string): { dir: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), "edgelm-sig-"));
  const dir = join(base, name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return { dir, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Flips one bit of a file in place (byte `at`, or the middle byte). */
export function flipBit(path: string, at?: number): void {
  const bytes = readFileSync(path);
  const i = at ?? Math.floor(bytes.length / 2);
  bytes[i] = bytes[i]! ^ 0x01;
  writeFileSync(path, bytes);
}

/** Rewrites model.sig with one bit flipped in the decoded DSSE signature or payload. */
export function flipBundleBit(sigPath: string, field: "sig" | "payload"): void {
  const bundle = JSON.parse(readFileSync(sigPath, "utf8"));
  const envelope = bundle.dsseEnvelope;
  const target = field === "sig" ? envelope.signatures[0] : envelope;
  const key = field === "sig" ? "sig" : "payload";
  const bytes = Buffer.from(target[key], "base64");
  const i = Math.floor(bytes.length / 2);
  bytes[i] = bytes[i]! ^ 0x01;
  target[key] = bytes.toString("base64");
  writeFileSync(sigPath, JSON.stringify(bundle));
}

/** The Fulcio root of the Sigstore trusted root as PEM: a real CA that did not issue the test PKI. */
export function otherRootCaPem(): string {
  const root = JSON.parse(readFileSync(TRUSTED_ROOT, "utf8"));
  const certs = root.certificateAuthorities[0].certChain.certificates;
  const der: string = certs[certs.length - 1].rawBytes;
  return `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** A Sigstore trusted root whose certificate authorities are the test PKI's root instead of Fulcio's. */
export function otherTrustedRootJson(): string {
  const root = JSON.parse(readFileSync(TRUSTED_ROOT, "utf8"));
  const pem = readFileSync(ROOT_CA, "utf8");
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64").toString("base64");
  for (const ca of root.certificateAuthorities) ca.certChain.certificates = [{ rawBytes: der }];
  return JSON.stringify(root);
}
