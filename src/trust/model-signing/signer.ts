/** Who signed a model, as each verification method establishes it. */
import type { EcCurve } from "./ec-keys.js";

export type Signer =
  | { method: "key"; keyHint: string; curve: EcCurve; keySource: string }
  | { method: "certificate"; subject: string; issuer: string; fingerprint256: string; root: string; curve: EcCurve }
  | { method: "keyless"; identity: string; issuer: string };

/** One line for people: "key e8450dec… (ECDSA P-384)", "certificate CN=… (issued by …)", "stefanb@… via https://…". */
export function describeSigner(signer: Signer): string {
  switch (signer.method) {
    case "key":
      return `key ${signer.keyHint} (ECDSA ${signer.curve})`;
    case "certificate":
      return `certificate ${signer.subject} (issued by ${signer.issuer}; root ${signer.root})`;
    case "keyless":
      return `${signer.identity} (Sigstore keyless, issuer ${signer.issuer})`;
  }
}
