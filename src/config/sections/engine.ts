import { z } from "zod";

const threadCount = z.number().int().min(1).max(1024);

const SANDBOX_DEFAULTS = { mode: "auto", user: "edgelm", memory_headroom_mb: 512, open_files: 1024, processes: 1024 } as const;

/** `engine.sandbox`: how runner processes are confined (src/engine/sandbox, docs/deployment.md). */
export const sandboxSection = z
  .object({
    /**
     * auto: the strongest protection this machine allows, and the gateway says what is missing and why;
     * required: refuse to start runners without network/file-system namespaces, seccomp, no_new_privs and limits;
     * off: runners run as plain child processes. Default auto.
     */
    mode: z.enum(["auto", "required", "off"]).default(SANDBOX_DEFAULTS.mode),
    /** The unprivileged user runners run as when the gateway runs as root; it must exist. Default "edgelm". */
    user: z.string().min(1).default(SANDBOX_DEFAULTS.user),
    /** MiB added to the model's estimated memory for the runner's data limit (RLIMIT_DATA). Default 512. */
    memory_headroom_mb: z.number().int().min(64).max(1 << 20).default(SANDBOX_DEFAULTS.memory_headroom_mb),
    /** Open files per runner (RLIMIT_NOFILE). Default 1024. */
    open_files: z.number().int().min(64).max(1 << 20).default(SANDBOX_DEFAULTS.open_files),
    /** Processes and threads of the runner's user (RLIMIT_NPROC, counted by the kernel per user). Default 1024. */
    processes: z.number().int().min(64).max(1 << 22).default(SANDBOX_DEFAULTS.processes),
  })
  .strict()
  .default(SANDBOX_DEFAULTS);

/** `engine`: how models are run. */
export const engineSection = z
  .object({
    /** auto: llama-server when one is built or configured, else node-llama-cpp. */
    backend: z.enum(["auto", "node-llama-cpp", "llama-server"]).default("auto"),
    /** Fixed thread counts; when absent the tuned (measured) choice is used. */
    threads: z
      .object({ prompt: threadCount.optional(), decode: threadCount.optional() })
      .strict()
      .optional(),
    /** Context tokens per sequence. Default: the model's, capped at 4096. */
    context_size: z.number().int().min(16).max(1 << 20).optional(),
    /** Use a GPU when node-llama-cpp finds one ("auto"), or never (false). */
    gpu: z.union([z.literal("auto"), z.literal(false)]).default(false),
    /** Path of a llama-server binary for the native runner backend. */
    llama_server: z.string().min(1).optional(),
    /** Measure and cache the best thread counts per model and machine when `threads` is not set. */
    tune_threads: z.boolean().default(true),
    /**
     * node-llama-cpp binaries: the prebuilt ones it ships, the on-device build made by
     * `edgelm engine build --backend node-llama-cpp`, or auto (that build when it exists).
     */
    node_llama_cpp_build: z.enum(["auto", "prebuilt", "local"]).default("auto"),
    sandbox: sandboxSection,
  })
  .strict()
  .default({ backend: "auto", gpu: false, tune_threads: true, node_llama_cpp_build: "auto", sandbox: SANDBOX_DEFAULTS });
