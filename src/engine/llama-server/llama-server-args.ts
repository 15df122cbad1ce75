/**
 * The command line of one llama-server runner, as an argument array (it is
 * spawned without a shell). What each setting maps to:
 * - slots: `--parallel N` with `--ctx-size N × context` (one KV cache per slot,
 *   not unified, so every slot gets exactly the context asked for) and
 *   continuous batching (llama-server's default);
 * - threads: `--threads` (decode) and `--threads-batch` (prompt batches);
 * - reachability: a Unix socket in a private folder (or 127.0.0.1) and an API
 *   key read from a 0600 file, so neither shows in the process list;
 * - nothing it would do on its own: no web UI, no network (`--offline`), no
 *   resizing to "fit" memory, no host-RAM prompt cache beyond the slots, and
 *   not the model's chat template: edgelm renders prompts itself within limits
 *   (chat-template.ts), while llama-server renders the template it is given
 *   at start-up, unbounded — so it gets its built-in chatml one;
 * - slot states: `--slot-save-path` (the process's own folder) when given, for
 *   warm prefixes (slot-prefixes.ts). The host-RAM prompt cache stays off
 *   (`--cache-ram 0`): its entries move into one slot when loaded, so it cannot
 *   share a prefix between slots, and every slot already keeps its own cache.
 */
import type { LogLevel } from "../../log.js";
import type { ThreadSetting } from "../types.js";
import type { LlamaServerBinary } from "./llama-server-binary.js";

export interface LlamaServerLaunch {
  modelPath: string;
  /** Context tokens per slot. */
  contextSize: number;
  parallel: number;
  threads: ThreadSetting;
  /** Logical batch size for prompts (tokens). */
  batchSize: number;
  /** Map the model file (llama-server's default) or read it (`--no-mmap`). Default mapped. */
  mmap?: boolean;
  /** LoRA adapters loaded unapplied (`--lora-init-without-apply`); requests select them by index. */
  adapters?: readonly string[];
  /** An embeddings runner: `--embeddings`, whole inputs in one micro-batch, mean pooling unless the model declares its own. */
  embeddings?: { meanPooling: boolean };
}

export type LlamaServerEndpoint = { socketPath: string } | { host: string; port: number };

/** llama.cpp's log verbosity for our log level: warnings and errors, or everything at debug. */
function verbosity(level: LogLevel): string {
  return level === "debug" ? "4" : level === "error" ? "1" : "2";
}

export function llamaServerArgs(
  launch: LlamaServerLaunch,
  binary: Pick<LlamaServerBinary, "flags">,
  endpoint: LlamaServerEndpoint,
  apiKeyFile: string,
  logLevel: LogLevel,
  slotSaveDir?: string,
): string[] {
  const has = (flag: string): boolean => binary.flags.has(flag);
  const args = ["--model", launch.modelPath];
  if ("socketPath" in endpoint) args.push("--host", endpoint.socketPath);
  else args.push("--host", endpoint.host, "--port", String(endpoint.port));
  args.push("--api-key-file", apiKeyFile);
  args.push("--threads", String(launch.threads.decode), "--threads-batch", String(launch.threads.prompt));
  if (launch.mmap === false) args.push("--no-mmap");
  if (launch.embeddings) {
    // Embeddings need a whole input in one micro-batch; one slot of the full context.
    const size = String(launch.contextSize);
    args.push("--embeddings", "--ctx-size", size, "--parallel", "1", "--batch-size", size);
    if (has("--ubatch-size")) args.push("--ubatch-size", size);
    if (launch.embeddings.meanPooling) args.push("--pooling", "mean");
  } else {
    args.push("--ctx-size", String(launch.contextSize * launch.parallel), "--parallel", String(launch.parallel));
    args.push("--batch-size", String(launch.batchSize));
    if (has("--no-kv-unified")) args.push("--no-kv-unified");
    if (has("--cont-batching")) args.push("--cont-batching");
    if (has("--metrics")) args.push("--metrics");
    if (has("--slots")) args.push("--slots");
    if (slotSaveDir !== undefined && has("--slot-save-path")) args.push("--slot-save-path", slotSaveDir);
  }
  if (launch.adapters && launch.adapters.length > 0) {
    for (const path of launch.adapters) args.push("--lora", path);
    args.push("--lora-init-without-apply");
  }
  if (has("--chat-template")) args.push("--chat-template", "chatml");
  if (has("--no-ui")) args.push("--no-ui");
  else if (has("--no-webui")) args.push("--no-webui");
  if (has("--offline")) args.push("--offline");
  if (has("--fit")) args.push("--fit", "off");
  if (has("--cache-ram")) args.push("--cache-ram", "0");
  if (has("--no-context-shift")) args.push("--no-context-shift");
  if (has("--log-prefix")) args.push("--log-prefix");
  if (has("--log-colors")) args.push("--log-colors", "off");
  if (has("--no-log-timestamps")) args.push("--no-log-timestamps");
  if (has("--log-verbosity")) args.push("--log-verbosity", verbosity(logLevel));
  return args;
}
