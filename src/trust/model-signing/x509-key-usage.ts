/**
 * The X.509 KeyUsage extension, which node:crypto's X509Certificate does not
 * expose (its `keyUsage` is the *extended* key usage). A small DER walk over
 * the certificate's extensions: bounds-checked, no recursion beyond the
 * fixed certificate structure.
 */

export interface KeyUsage {
  digitalSignature: boolean;
  keyCertSign: boolean;
}

interface Tlv {
  tag: number;
  /** Start of the contents. */
  start: number;
  /** End of the contents (exclusive). */
  end: number;
}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new Error("truncated DER");
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) throw new Error("bad DER length");
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!;
    start += bytes;
  }
  if (start + length > limit) throw new Error("DER element overruns its parent");
  return { tag, start, end: start + length };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

const KEY_USAGE_OID = [0x55, 0x1d, 0x0f]; // 2.5.29.15

/**
 * The certificate's KeyUsage bits, or undefined when it has no KeyUsage
 * extension. Throws on a certificate whose DER cannot be walked.
 */
export function certificateKeyUsage(der: Uint8Array): KeyUsage | undefined {
  const certificate = readTlv(der, 0, der.length);
  const tbs = children(der, certificate)[0];
  if (!tbs || tbs.tag !== 0x30) throw new Error("no tbsCertificate");
  const extensionsWrapper = children(der, tbs).find((c) => c.tag === 0xa3);
  if (!extensionsWrapper) return undefined;
  const list = children(der, extensionsWrapper)[0];
  if (!list) return undefined;
  for (const extension of children(der, list)) {
    const parts = children(der, extension);
    const oid = parts[0];
    if (!oid || oid.tag !== 0x06) continue;
    const oidBytes = der.subarray(oid.start, oid.end);
    if (oidBytes.length !== KEY_USAGE_OID.length || !KEY_USAGE_OID.every((b, i) => oidBytes[i] === b)) continue;
    const value = parts[parts.length - 1]!;
    if (value.tag !== 0x04) throw new Error("KeyUsage value is not an OCTET STRING");
    const bits = readTlv(der, value.start, value.end);
    if (bits.tag !== 0x03 || bits.end - bits.start < 1) throw new Error("KeyUsage is not a BIT STRING");
    const first = bits.end - bits.start > 1 ? der[bits.start + 1]! : 0;
    return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
  }
  return undefined;
}
