/**
 * The certificate method: the bundle carries the signing certificate and its
 * intermediates; the chain must lead to a root CA the operator trusts. As the
 * reference tool does, the chain is checked at the signing certificate's
 * notBefore (the signature carries no trusted time), and the signing
 * certificate must allow signing (KeyUsage digitalSignature or EKU codeSigning).
 */
import { X509Certificate } from "node:crypto";
import { EdgeError } from "../../errors.js";
import { oneLineDn } from "./distinguished-name.js";
import { dssePreAuthEncoding } from "./dsse-pae.js";
import { ecCurveOf, ecdsaVerify } from "./ec-keys.js";
import type { SignatureBundle } from "./signature-bundle.js";
import type { Signer } from "./signer.js";
import type { TrustedCa } from "./trust-anchors.js";
import { certificateKeyUsage, type KeyUsage } from "./x509-key-usage.js";

const CODE_SIGNING_EKU = "1.3.6.1.5.5.7.3.3";
const MAX_CHAIN_LENGTH = 10;

function keyUsageOf(certificate: X509Certificate): KeyUsage | undefined {
  try {
    return certificateKeyUsage(certificate.raw);
  } catch {
    throw new EdgeError("signature_invalid", `certificate ${oneLineDn(certificate.subject)} in model.sig has malformed extensions`);
  }
}

function validAt(certificate: X509Certificate, time: number): boolean {
  return Date.parse(certificate.validFrom) <= time && time <= Date.parse(certificate.validTo);
}

/** Could `issuer` have issued `child` (names, key identifiers, signature, CA flag, key usage)? */
function issued(issuer: X509Certificate, child: X509Certificate): boolean {
  if (issuer.fingerprint256 === child.fingerprint256) return false;
  if (!child.checkIssued(issuer) || !issuer.ca) return false;
  const usage = keyUsageOf(issuer);
  if (usage && !usage.keyCertSign) return false;
  try {
    return child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function parseCertificate(der: Buffer, index: number): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new EdgeError("signature_invalid", `model.sig: certificate #${index + 1} of x509CertificateChain is not a valid X.509 certificate`);
  }
}

/** Verifies a certificate-method bundle against trusted root CAs; returns the signer. */
export function verifyCertificateMethod(bundle: SignatureBundle, roots: readonly TrustedCa[]): Signer {
  if (bundle.material.kind !== "certificate-chain") throw new EdgeError("internal", "verifyCertificateMethod needs a certificate-chain bundle");
  const [leaf, ...intermediates] = bundle.material.certificates.map(parseCertificate);
  const signer = leaf!;
  if (roots.length === 0) {
    throw new EdgeError("untrusted_signer", `model.sig is signed with certificate ${oneLineDn(signer.subject)}, but no trusted root CA was given (--root-ca, or trust.root_cas)`);
  }
  const time = Date.parse(signer.validFrom);
  let current = signer;
  let root: TrustedCa | undefined;
  for (let depth = 0; depth <= MAX_CHAIN_LENGTH && !root; depth++) {
    root = roots.find((r) => r.certificate.fingerprint256 === current.fingerprint256 || (issued(r.certificate, current) && validAt(r.certificate, time)));
    if (root) break;
    const next = intermediates.find((c) => issued(c, current) && validAt(c, time));
    if (!next) break;
    current = next;
  }
  if (!root) {
    throw new EdgeError(
      "untrusted_signer",
      `model.sig's certificate ${oneLineDn(signer.subject)} (issued by ${oneLineDn(current.issuer)}) does not chain to a trusted root CA (trusted: ${roots.map((r) => `${oneLineDn(r.certificate.subject)} from ${r.source}`).join(", ")})`,
      { details: { subject: oneLineDn(signer.subject), issuer: oneLineDn(signer.issuer) } },
    );
  }
  const usage = keyUsageOf(signer);
  const ekus = signer.keyUsage ?? [];
  if (!(usage?.digitalSignature || ekus.includes(CODE_SIGNING_EKU))) {
    throw new EdgeError("untrusted_signer", `model.sig's certificate ${oneLineDn(signer.subject)} is not allowed to sign (it needs KeyUsage digitalSignature or ExtendedKeyUsage codeSigning)`);
  }
  const curve = ecCurveOf(signer.publicKey, `the key of certificate ${oneLineDn(signer.subject)}`);
  if (!ecdsaVerify(signer.publicKey, dssePreAuthEncoding(bundle.payloadType, bundle.payload), bundle.signature)) {
    throw new EdgeError("signature_invalid", `model.sig's signature does not verify with certificate ${oneLineDn(signer.subject)}: the signature or its signed payload was altered`);
  }
  return {
    method: "certificate",
    subject: oneLineDn(signer.subject),
    issuer: oneLineDn(signer.issuer),
    fingerprint256: signer.fingerprint256,
    root: oneLineDn(root.certificate.subject),
    curve,
  };
}
