import { z } from "zod";

const threadCount = z.number().int().min(1).max(1024);

/** A model the gateway serves: `ref` is any model reference; `name` is what clients ask for (default: the reference's name). */
export const servedModel = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "letters, digits and . _ : / - only")
      .optional(),
    ref: z.string().min(1),
    /** Sequences each runner decodes together (default: server.parallel). */
    parallel: z.number().int().min(1).max(256).optional(),
    /** Context tokens per sequence (default: engine.context_size, else the model's, at most 4096). */
    context_size: z.number().int().min(16).optional(),
    /** Runner processes (default: server.runners). */
    runners: z.number().int().min(1).max(64).optional(),
    threads: z.object({ prompt: threadCount.optional(), decode: threadCount.optional() }).strict().optional(),
  })
  .strict();

/** `server.grpc`: the gRPC API (edgelm.v1.Inference) on its own port; off unless a port is set. */
export const grpcServerSection = z
  .object({
    /** Port of the gRPC API (0 picks a free one); absent = no gRPC API. */
    port: z.number().int().min(0).max(65535).optional(),
    /** Address to bind; default server.host. */
    host: z.string().min(1).optional(),
    /** TLS from PEM files; with `client_ca`, clients must present a certificate it signed (mutual TLS). */
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1), client_ca: z.string().min(1).optional() })
      .strict()
      .optional(),
  })
  .strict();

/** `server`: the gateway (`edgelm serve`). */
export const serverSection = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(11435),
    /** Bearer keys; when non-empty every API route needs one. */
    api_keys: z.array(z.string().min(1)).default([]),
    /** Sequences decoded together per runner. */
    parallel: z.number().int().min(1).max(256).default(4),
    /** Requests waiting for a sequence beyond `parallel`; more get 429. */
    queue: z.number().int().min(0).max(100_000).default(64),
    /** Per-request deadline in milliseconds, queue wait included (0 = none). */
    request_timeout_ms: z.number().int().min(0).default(300_000),
    /** Largest accepted request body in bytes. */
    body_limit_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** Seconds in-flight streams get to finish on SIGTERM before they are cancelled. */
    shutdown_grace_s: z.number().min(0).default(10),
    /** Runner processes per model (a policy may add more at run time). */
    runners: z.number().int().min(1).max(64).default(1),
    /** First restart delay after a runner crash, in ms; doubles per consecutive crash. */
    restart_delay_ms: z.number().int().min(0).default(250),
    /** Longest restart delay, in ms. */
    restart_delay_max_ms: z.number().int().min(0).default(30_000),
    /** How long a runner may take to load its model before it is killed, in ms. */
    runner_start_timeout_ms: z.number().int().min(1000).default(120_000),
    /** Responses (`/v1/responses`, `store` not false) kept in memory for `previous_response_id`; the oldest go first. 0 keeps none. */
    responses_store_entries: z.number().int().min(0).max(100_000).default(256),
    /** Most bytes (conversation text) those responses may hold together. */
    responses_store_bytes: z.number().int().min(0).default(32 * 1024 * 1024),
    /**
     * Before loading, check each served model's estimated resident memory (× runners) against what this machine or
     * its cgroup memory limit leaves: `variant` serves the largest store variant that fits instead, `refuse` stops
     * with insufficient_memory, `off` loads regardless.
     */
    memory_fit: z.enum(["variant", "refuse", "off"]).default("variant"),
    /** Memory the fit check keeps free for the gateway's own growth and the kernel, in MiB. */
    memory_headroom_mb: z.number().int().min(0).default(32),
    models: z.array(servedModel).default([]),
    grpc: grpcServerSection.default({}),
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
    runners: 1,
    restart_delay_ms: 250,
    restart_delay_max_ms: 30_000,
    runner_start_timeout_ms: 120_000,
    responses_store_entries: 256,
    responses_store_bytes: 32 * 1024 * 1024,
    memory_fit: "variant",
    memory_headroom_mb: 32,
    models: [],
    grpc: {},
  });
