import { z } from "zod";

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
  })
  .strict()
  .default({ reverify: false, download_retries: 3, connect_timeout_ms: 15_000, stall_timeout_ms: 60_000 });
