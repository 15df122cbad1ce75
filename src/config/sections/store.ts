import { z } from "zod";

/** Login for one OCI registry: a user and password (basic, or exchanged for a bearer token), or a ready token. */
const ociCredential = z
  .object({
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** A registry token sent as `Authorization: Bearer` (instead of a user and password). */
    token: z.string().min(1).optional(),
  })
  .strict();

/** `store.oci`: pulling from and pushing to OCI registries (`oci://host[:port]/repo[:tag|@sha256:...]`). */
export const ociSection = z
  .object({
    /** Registries (`host[:port]`) spoken to over plain HTTP; every other registry is HTTPS only. */
    insecure: z.array(z.string().min(1)).default([]),
    /** PEM files of extra CA certificates trusted for HTTPS registries (with Node's built-in roots). */
    ca: z.array(z.string().min(1)).default([]),
    /** Credentials per registry (`host[:port]`); these win over Docker's config.json. */
    credentials: z.record(z.string().min(1), ociCredential).default({}),
    /** Docker's config.json to read `auths` from (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json). */
    docker_config: z.string().min(1).optional(),
    /** Bytes per PATCH of a chunked blob upload; blobs up to this size go in one PUT. Default 16 MiB. */
    chunk_bytes: z.number().int().min(1024).max(1 << 30).default(16 << 20),
  })
  .strict()
  .default({ insecure: [], ca: [], credentials: {}, chunk_bytes: 16 << 20 });

/** `store`: the model store under `home`, verification on load, and downloads. */
export const storeSection = z
  .object({
    /** Re-hash every model file on load even when the verified-hash cache vouches for it. */
    reverify: z.boolean().default(false),
    /** Extra attempts (each resuming where the last stopped) when a download breaks off. */
    download_retries: z.number().int().min(0).max(20).default(3),
    /** Milliseconds to wait for a server to accept the connection and answer. */
    connect_timeout_ms: z.number().int().min(100).max(600_000).default(15_000),
    /** Milliseconds without a byte of body before a download counts as stalled. */
    stall_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Bearer token for the hub (gated or private repositories, company mirrors). */
    hf_token: z.string().min(1).optional(),
    oci: ociSection,
  })
  .strict()
  .default({
    reverify: false,
    download_retries: 3,
    connect_timeout_ms: 15_000,
    stall_timeout_ms: 60_000,
    oci: { insecure: [], ca: [], credentials: {}, chunk_bytes: 16 << 20 },
  });
