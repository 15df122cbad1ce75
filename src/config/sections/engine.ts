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

/** The defaults of `engine.chat_template` (the engine's default limits too, see bounded-template.ts). */
export const CHAT_TEMPLATE_DEFAULTS = { render_timeout_ms: 2000, max_output_bytes: 4 * 1024 * 1024, memory_mb: 128, max_source_bytes: 256 * 1024 } as const;

/**
 * `engine.chat_template`: limits on rendering a model's chat template (code from
 * the model file). A template past one on a probe render at load keeps the model
 * from loading (unsupported_model); past one on a request, that request fails (422).
 */
export const chatTemplateSection = z
  .object({
    /** Longest one render (and the template's parse in a new rendering thread) may take, in ms. Default 2000. */
    render_timeout_ms: z.number().int().min(10).max(600_000).default(CHAT_TEMPLATE_DEFAULTS.render_timeout_ms),
    /** Most bytes one render may produce. Default 4194304 (4 MiB). */
    max_output_bytes: z.number().int().min(1024).max(1 << 30).default(CHAT_TEMPLATE_DEFAULTS.max_output_bytes),
    /** Heap of the thread that renders, in MiB. Default 128. */
    memory_mb: z.number().int().min(16).max(1 << 16).default(CHAT_TEMPLATE_DEFAULTS.memory_mb),
    /**
     * Longest template (UTF-8 bytes) a model may carry. Default 262144 (256 KiB); published
     * chat templates are a few KB to a few tens of KB. Every rendering thread parses it again.
     */
    max_source_bytes: z.number().int().min(1024).max(1 << 30).default(CHAT_TEMPLATE_DEFAULTS.max_source_bytes),
  })
  .strict()
  .default(CHAT_TEMPLATE_DEFAULTS);

/** The defaults of `engine.grammar_cache` (the engine's default bounds too, see grammar-cache.ts). */
export const GRAMMAR_CACHE_DEFAULTS = { max_entries: 256, max_bytes: 64 * 1024 * 1024 } as const;

/**
 * `engine.grammar_cache`: compiled grammars (JSON schemas, GBNF) a node-llama-cpp
 * runner keeps for reuse; past either bound the least recently used are dropped.
 */
export const grammarCacheSection = z
  .object({
    /** Most grammars kept per runner. Default 256. */
    max_entries: z.number().int().min(0).max(1_000_000).default(GRAMMAR_CACHE_DEFAULTS.max_entries),
    /** Most estimated bytes they hold together, per runner. Default 67108864 (64 MiB). */
    max_bytes: z.number().int().min(0).default(GRAMMAR_CACHE_DEFAULTS.max_bytes),
  })
  .strict()
  .default(GRAMMAR_CACHE_DEFAULTS);

/** The defaults of `engine.prefix_cache`. */
export const PREFIX_CACHE_DEFAULTS = { enabled: true, learn_after: 3, max_prefixes: 4, max_disk_mb: 1024 } as const;

/**
 * `engine.prefix_cache`: prompt prefixes (a chat's rendered system prompt) whose KV
 * state a llama-server runner computes once and copies into every slot, so a new
 * conversation evaluates only its own tokens (docs/performance.md). Warm prefixes
 * come from `server.models[].warm_prefixes` and from learning; their state is kept
 * under $EDGELM_HOME/prefix-cache/<model sha256>/ and restored after a restart
 * only for the same model file hash.
 */
export const prefixCacheSection = z
  .object({
    /** Warm prefixes at load, learned ones, and their saved state. false: every slot keeps only what it last evaluated. Default true. */
    enabled: z.boolean().default(PREFIX_CACHE_DEFAULTS.enabled),
    /**
     * A system prompt seen this many times in one runner's chat requests is kept: evaluated once in an idle
     * slot, saved under $EDGELM_HOME/prefix-cache/<model sha256>/ (the state holds the prompt's tokens), and
     * placed in every slot from the next start on, as a configured one. 0: never learn. Default 3.
     */
    learn_after: z.number().int().min(0).max(1_000_000).default(PREFIX_CACHE_DEFAULTS.learn_after),
    /** Most warm prefixes (configured and learned) a runner keeps; past it, learned ones are not added. Default 4. */
    max_prefixes: z.number().int().min(1).max(64).default(PREFIX_CACHE_DEFAULTS.max_prefixes),
    /** Most MiB of saved prefix state kept on disk per model; the least recently used files are removed past it. Default 1024. */
    max_disk_mb: z.number().int().min(1).max(1 << 20).default(PREFIX_CACHE_DEFAULTS.max_disk_mb),
  })
  .strict()
  .default(PREFIX_CACHE_DEFAULTS);

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
    /**
     * Prompt tokens a runner evaluates per step (llama-server's --batch-size; node-llama-cpp's context batch),
     * shared by every slot. A step also carries one token of each stream already answering, so the step's
     * length is the longest pause those streams see while another request's prompt is evaluated: smaller
     * keeps them flowing, larger evaluates long prompts slightly faster (docs/performance.md). Default 512.
     */
    batch_size: z.number().int().min(16).max(8192).optional(),
    /**
     * Map the model file (on) or read it into memory (off). auto: read it when the engine repacks some of its
     * weights on this CPU (the mapped originals would stay resident beside the copy), map it otherwise
     * (src/engine/weight-residency.ts, docs/deployment.md). Default auto.
     */
    mmap: z.enum(["auto", "on", "off"]).default("auto"),
    /** Use a GPU when node-llama-cpp finds one ("auto"), or never (false). */
    gpu: z.union([z.literal("auto"), z.literal(false)]).default(false),
    /** Path of a llama-server binary for the native runner backend. */
    llama_server: z.string().min(1).optional(),
    /** llama.cpp's trainer (llama-finetune) for `edgelm finetune`; default: the one `engine build --backend trainer` made. */
    trainer: z.string().min(1).optional(),
    /** Measure and cache the best thread counts per model and machine when `threads` is not set. */
    tune_threads: z.boolean().default(true),
    /**
     * node-llama-cpp binaries: the prebuilt ones it ships, the on-device build made by
     * `edgelm engine build --backend node-llama-cpp`, or auto (that build when it exists).
     */
    node_llama_cpp_build: z.enum(["auto", "prebuilt", "local"]).default("auto"),
    sandbox: sandboxSection,
    chat_template: chatTemplateSection,
    grammar_cache: grammarCacheSection,
    prefix_cache: prefixCacheSection,
  })
  .strict()
  .default({
    backend: "auto",
    gpu: false,
    mmap: "auto",
    tune_threads: true,
    node_llama_cpp_build: "auto",
    sandbox: SANDBOX_DEFAULTS,
    chat_template: CHAT_TEMPLATE_DEFAULTS,
    grammar_cache: GRAMMAR_CACHE_DEFAULTS,
    prefix_cache: PREFIX_CACHE_DEFAULTS,
  });
