import { z } from "zod";

const threadCount = z.number().int().min(1).max(1024);

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
  })
  .strict()
  .default({ backend: "auto", gpu: false, tune_threads: true, node_llama_cpp_build: "auto" });
