import { z } from "zod";
import { federatedSection } from "./federated.js";
import { rolloutSection } from "./rollout.js";
import { parseKeepAlive } from "../../scheduler/keep-alive.js";

const threadCount = z.number().int().min(1).max(1024);

/** What requests call an adapter (`model: "<model>+<adapter>"`). */
export const adapterName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits and . _ - only");

/** A model the gateway serves: `ref` is any model reference; `name` is what clients ask for (default: the reference's name). */
export const servedModel = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, "letters, digits and . _ : / - only")
      .optional(),
    /** The model reference to serve; optional with `follow` (then the version the rollout last took). */
    ref: z.string().min(1).optional(),
    /** A registry tag to follow (`oci://host/repo:tag`): new digests are pulled, health-gated and swapped in (server.rollout). */
    follow: z
      .string()
      .regex(/^oci:\/\/[^/]+\/[^:@]+(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$/, "an oci://host[:port]/repo[:tag] reference (a tag, not a digest: a digest never changes)")
      .optional(),
    /** Sequences each runner decodes together (default: server.parallel). */
    parallel: z.number().int().min(1).max(256).optional(),
    /** Context tokens per sequence (default: engine.context_size, else the model's, at most 4096). */
    context_size: z.number().int().min(16).optional(),
    /** Runner processes (default: server.runners). */
    runners: z.number().int().min(1).max(64).optional(),
    threads: z.object({ prompt: threadCount.optional(), decode: threadCount.optional() }).strict().optional(),
    /**
     * LoRA adapters requests may select (OpenAI `model: "<name>+<adapter>"` or `adapters`), loaded unapplied with the
     * model (llama-server engine only); each a GGUF adapter file (`path`) or a store adapter entry of this model
     * (`ref`, a `name:tag`; `name` defaults to its name), verified with the model on every load (docs/adaptation.md).
     */
    adapters: z
      .array(
        z
          .object({ name: adapterName.optional(), path: z.string().min(1).optional(), ref: z.string().min(1).optional(), scale: z.number().min(-100).max(100).optional() })
          .strict()
          .refine((a) => (a.path === undefined) !== (a.ref === undefined), { message: "give `path` (a GGUF adapter file) or `ref` (a store adapter, name:tag), not both" })
          .refine((a) => a.name !== undefined || a.ref !== undefined, { message: "an adapter given by path needs a name", path: ["name"] }),
      )
      .max(16)
      .optional(),
    /**
     * System prompts to precompute at load (engine.prefix_cache): each `{ text }` or `{ file }` (a UTF-8 file,
     * at most 256 KiB, read when the gateway starts). Chats starting with one evaluate only their own tokens.
     */
    warm_prefixes: z
      .array(z.union([z.object({ text: z.string().min(1).max(256 * 1024) }).strict(), z.object({ file: z.string().min(1) }).strict()]))
      .max(64)
      .optional(),
  })
  .strict()
  .refine((m) => m.ref !== undefined || m.follow !== undefined, { message: "give `ref` (a model reference) or `follow` (an oci:// tag to follow)", path: ["ref"] });

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
    /**
     * Keys for /admin/* (they serve the inference routes too). An API key is no admin key: with admin keys set it
     * gets 403 there. Without admin keys, /admin/* answers loopback clients only (with an API key when those are set).
     */
    admin_keys: z.array(z.string().min(1)).default([]),
    /** Most runner processes one model may have; adding more (edgelm admin, a policy) is refused. */
    max_runners: z.number().int().min(1).max(64).default(8),
    /** Sequences decoded together per runner. */
    parallel: z.number().int().min(1).max(256).default(4),
    /** Requests waiting for a sequence beyond `parallel`; more get 429. */
    queue: z.number().int().min(0).max(100_000).default(64),
    /** Per-request deadline in milliseconds, queue wait included (0 = none). */
    request_timeout_ms: z.number().int().min(0).default(300_000),
    /** Largest accepted request body in bytes. */
    body_limit_bytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** Deepest nesting of objects and arrays in a request body, checked on the text before it is parsed; deeper is a 400. */
    json_max_depth: z.number().int().min(4).max(400).default(64),
    /** Deepest nesting inside one JSON schema a request carries (response format, tool parameters); deeper is a 400. */
    schema_max_depth: z.number().int().min(2).max(500).default(32),
    /** Most objects and arrays in one such schema; more is a 400. */
    schema_max_nodes: z.number().int().min(1).max(100_000).default(2000),
    /** Most `enum` values in one such schema (all its enums together); more is a 400. */
    schema_max_enum_values: z.number().int().min(1).max(100_000).default(1000),
    /**
     * Most grammar elements the counts of one such schema expand into, all together: each `minLength`/`maxLength`,
     * `minItems`/`maxItems`, `minProperties`/`maxProperties` and pattern `{m,n}` costs its largest count below 2000
     * (about 300 bytes and 2-4 µs each in the runner); more is a 400. A raw GBNF grammar's repetitions count the same.
     */
    schema_max_repetitions: z.number().int().min(1).max(10_000_000).default(100_000),
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
    /** How often the gateway asks each runner whether it is alive (a health call), in ms; 0 turns it off. */
    runner_heartbeat_ms: z.number().int().min(0).default(5000),
    /** A runner that has not answered a health call within this many ms is killed and restarted. */
    runner_unresponsive_ms: z.number().int().min(100).default(15_000),
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
    /**
     * Unknown request fields (OpenAI, Ollama and llama-server routes): ignored and listed in the
     * x-edgelm-ignored-fields response header by default, as Ollama and llama-server do; true makes each a 400 naming it.
     */
    strict_fields: z.boolean().default(false),
    models: z.array(servedModel).default([]),
    rollout: rolloutSection,
    /** Store models not in `models` are served on demand (loaded by their first request); at most this many hold runners at once. */
    max_loaded_models: z.number().int().min(1).max(64).default(3),
    /** How long an idle on-demand model stays loaded: seconds, a duration ("5m", "1h"), 0 = unload after each request, -1 = forever. */
    keep_alive: z
      .union([z.string(), z.number()])
      .refine((v) => !Number.isNaN(parseKeepAlive(v)), 'expected seconds or a duration such as "5m", "90s", "1h"; -1 = forever')
      .default("5m"),
    grpc: grpcServerSection.default({}),
    /** Federated fine-tuning rounds: coordinate them, or take part in a coordinator's (docs/adaptation.md). */
    federated: federatedSection.default({ participate: false, poll_s: 10 }),
    /**
     * The web console at `/` (`/console/`): playground, dashboard, models, fleet. Default (absent): on when the
     * gateway binds a loopback address, or when API keys are set (then it asks for one); off otherwise.
     */
    console: z.boolean().optional(),
  })
  .strict()
  .default({
    host: "127.0.0.1",
    port: 11435,
    api_keys: [],
    admin_keys: [],
    max_runners: 8,
    parallel: 4,
    queue: 64,
    request_timeout_ms: 300_000,
    body_limit_bytes: 4 * 1024 * 1024,
    json_max_depth: 64,
    schema_max_depth: 32,
    schema_max_nodes: 2000,
    schema_max_enum_values: 1000,
    schema_max_repetitions: 100_000,
    shutdown_grace_s: 10,
    runners: 1,
    restart_delay_ms: 250,
    restart_delay_max_ms: 30_000,
    runner_start_timeout_ms: 120_000,
    runner_heartbeat_ms: 5000,
    runner_unresponsive_ms: 15_000,
    responses_store_entries: 256,
    responses_store_bytes: 32 * 1024 * 1024,
    memory_fit: "variant",
    memory_headroom_mb: 32,
    strict_fields: false,
    models: [],
    rollout: { waves: [], poll_interval_s: 300, poll_jitter: 0.2, smoke: [{ prompt: "Hello", chat: false, max_tokens: 8, non_empty: true, json: false }], swap: "auto" },
    max_loaded_models: 3,
    keep_alive: "5m",
    grpc: {},
    federated: { participate: false, poll_s: 10 },
  });

/** Whether `host` names this machine's loopback (127.x, ::1, localhost). */
function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare) || /^::ffff:127\./.test(bare);
}

/**
 * Whether the gateway serves the web console: server.console when set, else on for a loopback bind or when keys
 * are set (the console then asks for one), off for a gateway open to the network without keys.
 */
export function consoleEnabled(server: { host: string; console?: boolean | undefined; api_keys: readonly string[]; admin_keys: readonly string[] }): boolean {
  if (server.console !== undefined) return server.console;
  return isLoopbackHost(server.host) || server.api_keys.length > 0 || server.admin_keys.length > 0;
}
