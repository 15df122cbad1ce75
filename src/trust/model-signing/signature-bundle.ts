/**
 * Reads `model.sig`: a Sigstore bundle (media type v0.3) holding one DSSE
 * envelope and the material to check it with. Nothing is verified here; this
 * only takes the JSON apart, strictly, so every later step works on typed
 * values. The payload is kept as the exact decoded bytes the signature covers.
 */
import { EdgeError } from "../../errors.js";
import { decodeBase64Field } from "./strict-base64.js";

export const BUNDLE_MEDIA_TYPES = [
  "application/vnd.dev.sigstore.bundle.v0.3+json",
  "application/vnd.dev.sigstore.bundle+json;version=0.3",
] as const;
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
/** A model.sig larger than this is refused before parsing (a folder of 100k files fits easily). */
export const MAX_SIGNATURE_BYTES = 64 * 1024 * 1024;

/** What the bundle offers to check the signature with; it decides the verification method. */
export type VerificationMaterial =
  /** Key method. v1.1 writes `hint`; v1.0 wrote the key itself (`rawBytes`, PEM or DER) and `keyDetails`. */
  | { kind: "public-key"; hint?: string; rawKey?: Buffer; keyDetails?: string }
  /** Certificate method: DER certificates, the signing (leaf) certificate first. */
  | { kind: "certificate-chain"; certificates: Buffer[] }
  /** Sigstore keyless: a Fulcio certificate and transparency-log entries. */
  | { kind: "keyless"; certificate: Buffer };

export interface SignatureBundle {
  mediaType: string;
  material: VerificationMaterial;
  payloadType: string;
  /** The DSSE payload exactly as signed (base64-decoded, never re-serialized). */
  payload: Buffer;
  /** The one DSSE signature (DER ECDSA for the key and certificate methods). */
  signature: Buffer;
  /** The parsed JSON, for the Sigstore libraries in keyless verification. */
  json: Record<string, unknown>;
}

function bad(message: string): EdgeError {
  return new EdgeError("signature_invalid", `model.sig is not a valid Sigstore bundle: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function objectField(parent: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const value = parent[key];
  if (!isObject(value)) throw bad(`${where}.${key} is missing or not an object`);
  return value;
}

function readMaterial(material: Record<string, unknown>): VerificationMaterial {
  const tlogEntries = material.tlogEntries;
  if (tlogEntries !== undefined && !Array.isArray(tlogEntries)) throw bad("verificationMaterial.tlogEntries must be an array");
  const hasTlog = Array.isArray(tlogEntries) && tlogEntries.length > 0;
  const kinds = ["publicKey", "x509CertificateChain", "certificate"].filter((k) => material[k] !== undefined && material[k] !== null);
  if (kinds.length !== 1) {
    throw bad(`verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate (found ${kinds.length})`);
  }
  const kind = kinds[0]!;
  if (kind === "publicKey") {
    const key = objectField(material, "publicKey", "verificationMaterial");
    const out: VerificationMaterial = { kind: "public-key" };
    if (key.hint !== undefined && key.hint !== null && key.hint !== "") {
      if (typeof key.hint !== "string" || !/^[0-9a-f]{64}$/i.test(key.hint)) throw bad("publicKey.hint must be a hex SHA-256");
      out.hint = key.hint.toLowerCase();
    }
    if (key.rawBytes !== undefined && key.rawBytes !== null) out.rawKey = decodeBase64Field(key.rawBytes, "publicKey.rawBytes");
    if (typeof key.keyDetails === "string") out.keyDetails = key.keyDetails;
    return out;
  }
  if (kind === "x509CertificateChain") {
    const chain = objectField(material, "x509CertificateChain", "verificationMaterial");
    if (!Array.isArray(chain.certificates) || chain.certificates.length === 0) {
      throw bad("x509CertificateChain.certificates must be a non-empty array");
    }
    const certificates = chain.certificates.map((c: unknown, i) => {
      if (!isObject(c)) throw bad(`x509CertificateChain.certificates[${i}] is not an object`);
      return decodeBase64Field(c.rawBytes, `x509CertificateChain.certificates[${i}].rawBytes`);
    });
    // A chain with log entries is an older keyless bundle; without, model_signing's certificate method.
    return hasTlog ? { kind: "keyless", certificate: certificates[0]! } : { kind: "certificate-chain", certificates };
  }
  const certificate = objectField(material, "certificate", "verificationMaterial");
  return { kind: "keyless", certificate: decodeBase64Field(certificate.rawBytes, "certificate.rawBytes") };
}

/** Parses the bytes of a model.sig. Throws `signature_invalid` (malformed) or `unsupported` (another format). */
export function parseSignatureBundle(bytes: Uint8Array): SignatureBundle {
  if (bytes.length > MAX_SIGNATURE_BYTES) throw bad(`it is ${bytes.length} bytes (limit ${MAX_SIGNATURE_BYTES})`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message.split("\n")[0]})`);
  }
  if (!isObject(json)) throw bad("the top level is not a JSON object");
  const mediaType = json.mediaType;
  if (typeof mediaType !== "string") throw bad("mediaType is missing");
  if (!(BUNDLE_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
    throw new EdgeError("unsupported", `model.sig has bundle media type "${mediaType}"; edgelm reads ${BUNDLE_MEDIA_TYPES[0]} (OpenSSF Model Signing v1.0 and later)`);
  }
  if (json.messageSignature !== undefined) throw new EdgeError("unsupported", "model.sig holds a message signature; OpenSSF Model Signing uses a DSSE envelope");
  const material = readMaterial(objectField(json, "verificationMaterial", "bundle"));
  const envelope = objectField(json, "dsseEnvelope", "bundle");
  if (typeof envelope.payloadType !== "string") throw bad("dsseEnvelope.payloadType is missing");
  const payload = decodeBase64Field(envelope.payload, "dsseEnvelope.payload");
  if (!Array.isArray(envelope.signatures) || envelope.signatures.length !== 1) {
    throw bad(`dsseEnvelope must carry exactly one signature (found ${Array.isArray(envelope.signatures) ? envelope.signatures.length : 0})`);
  }
  const first: unknown = envelope.signatures[0];
  if (!isObject(first)) throw bad("dsseEnvelope.signatures[0] is not an object");
  const signature = decodeBase64Field(first.sig, "dsseEnvelope.signatures[0].sig");
  if (signature.length === 0) throw bad("dsseEnvelope.signatures[0].sig is empty");
  return { mediaType, material, payloadType: envelope.payloadType, payload, signature, json };
}
