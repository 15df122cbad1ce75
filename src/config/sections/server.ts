import { z } from "zod";

/** A model the gateway serves: `name` is what clients ask for, `ref` any model reference. */
export const servedModel = z
  .object({
    name: z.string().min(1),
    ref: z.string().min(1),
    parallel: z.number().int().min(1).max(256).optional(),
    context_size: z.number().int().min(16).optional(),
  })
  .strict();

/** `server`: the gateway (`edgelm serve`). */
export const serverSection = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(11435),
    /** Bearer keys; when non-empty every API route needs one. */
    api_keys: z.array(z.string().min(1)).default([]),
    /** Sequences decoded together per model. */
    parallel: z.number().int().min(1).max(256).default(4),
    /** Requests waiting for a sequence beyond `parallel`; more get 429. */
    queue: z.number().int().min(0).max(100_000).default(64),
    /** Per-request deadline in milliseconds (0 = none). */
    request_timeout_ms: z.number().int().min(0).default(300_000),
    /** Largest accepted request body in bytes. */
    body_limit_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** Seconds in-flight streams get to finish on SIGTERM before they are cancelled. */
    shutdown_grace_s: z.number().min(0).default(10),
    models: z.array(servedModel).default([]),
  })
  .strict()
  .default({
    host: "127.0.0.1",
    port: 11435,
    api_keys: [],
    parallel: 4,
    queue: 64,
    request_timeout_ms: 300_000,
    body_limit_bytes: 4 * 1024 * 1024,
    shutdown_grace_s: 10,
    models: [],
  });
