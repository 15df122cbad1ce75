import { z } from "zod";

/** A Sigstore keyless signer the device trusts: who (certificate SAN) and through which OIDC issuer. */
export const trustedIdentity = z
  .object({
    identity: z.string().min(1),
    issuer: z.string().url(),
  })
  .strict();

/**
 * `trust`: which model signatures (OpenSSF Model Signing, `model.sig`) this
 * device accepts, and whether it refuses models without one. Paths are
 * absolute or relative to the working directory.
 */
export const trustSection = z
  .object({
    /** Refuse to load a model without a valid signature from a trusted signer. */
    require_signature: z.boolean().default(false),
    /** PEM public keys (ECDSA P-256/P-384/P-521) whose signatures are trusted. */
    keys: z.array(z.string().min(1)).default([]),
    /** PEM root CA certificates for the certificate method. */
    root_cas: z.array(z.string().min(1)).default([]),
    /** Sigstore keyless signers (identity + OIDC issuer). */
    identities: z.array(trustedIdentity).default([]),
    /** Sigstore trusted_root.json for verifying keyless signatures offline. */
    trusted_root: z.string().min(1).optional(),
    /** PEM private key this device signs the variants it makes with; its public half is trusted too. */
    local_key: z.string().min(1).optional(),
  })
  .strict()
  .default({ require_signature: false, keys: [], root_cas: [], identities: [] });
