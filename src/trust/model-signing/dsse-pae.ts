/**
 * DSSE's pre-authentication encoding (PAE), the exact bytes a DSSE signature
 * covers: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, lengths in bytes
 * as ASCII decimals. See https://github.com/secure-systems-lab/dsse (protocol.md).
 */
export function dssePreAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, "ascii"),
    type,
    Buffer.from(` ${payload.length} `, "ascii"),
    payload,
  ]);
}
