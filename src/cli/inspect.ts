/**
 * `edgelm inspect [model]`: what a model is, what it would weigh at other
 * precisions, and whether it fits in this machine's memory at a context size.
 */
import type { Command } from "commander";
import { checkLoadableFile } from "../engine/load-safety.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf } from "../gguf/gguf-summary.js";
import { estimateMemory, sizeAtTarget } from "../gguf/memory-estimate.js";
import { readSystemMemory } from "../ops/system-memory.js";
import { llamaServerCandidate } from "../engine/engine-choice.js";
import { configuredResidency, engineCpuFeatures } from "../engine/weight-residency.js";
import { DEMO_NOTICE, resolveModel } from "../store/resolve-model.js";
import { checkTrust } from "../trust/check-trust.js";
import { trustSubjectFor } from "../trust/trust-subject.js";
import { verifyModel } from "../trust/verify-model.js";
import { terminalProgress } from "./progress-bar.js";
import { action, commandConfig, integerFlag } from "./cli-kit.js";
import { formatBytes, formatCount, printTable } from "./format.js";

interface InspectFlags {
  model?: string;
  ctx?: number;
  parallel?: number;
  json?: boolean;
  reverify?: boolean;
  config?: string;
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a model's architecture, sizes at F16/Q8_0/Q4_0, and the memory it needs at a context size")
    .argument("[model]", "model reference (default: the built-in demo model)")
    .option("-m, --model <ref>", "model reference (same as the argument)")
    .option("-c, --ctx <tokens>", "context size for the memory estimate (default: the model's, at most 4096)", integerFlag("--ctx", { min: 16, max: 1 << 24 }))
    .option("--parallel <n>", "sequences served at once (multiplies the KV cache)", integerFlag("--parallel", { min: 1, max: 256 }), 1)
    .option("--json", "print JSON")
    .option("--reverify", "re-hash the model files even when the verified-hash cache vouches for them")
    .option("--config <file>", "config file")
    .action(action(inspectCommand));
}

async function inspectCommand(modelArg: string | undefined, flags: InspectFlags): Promise<void> {
  const config = commandConfig(flags, flags.reverify ? { store: { reverify: true } } : {});
  const ref = flags.model ?? modelArg;
  const reporter = terminalProgress({ quiet: flags.json === true });
  const progress = reporter ? { progress: reporter } : {};
  const resolved = await resolveModel(ref, config, progress);
  // On stderr, so --json output stays one JSON document.
  if (resolved.source === "demo") process.stderr.write(`${DEMO_NOTICE}\n`);
  const verification = await verifyModel(resolved, config, progress);
  const trust = await checkTrust(trustSubjectFor(resolved, verification), config);
  const file = readGguf(resolved.path);
  checkLoadableFile(file, resolved.path);
  const summary = summarizeGguf(file);
  const contextSize = flags.ctx ?? Math.min(summary.contextLength ?? 4096, 4096);
  // The engine serve would most likely pick (engine-choice.ts also smoke-tests a built llama-server).
  const backend = config.engine.backend === "auto" ? (llamaServerCandidate(config) ? "llama-server" : "node-llama-cpp") : config.engine.backend;
  const engine = configuredResidency(config, backend);
  const memory = estimateMemory(file, summary, contextSize, 512, flags.parallel ?? 1, engineCpuFeatures(engine), engine.mmap);
  const system = readSystemMemory();
  const sizes = Object.fromEntries(
    (["F16", "Q8_0", "Q4_0"] as const).map((name) => [name, sizeAtTarget(file, name.toLowerCase() as "f16" | "q8_0" | "q4_0")]),
  );
  const fits = memory.totalBytes <= system.availableBytes;
  const report = {
    model: resolved.name,
    path: resolved.path,
    source: resolved.source,
    sha256: verification.sha256,
    hash_verified: verification.hashVerified,
    file_size: file.fileSize,
    gguf_version: file.version,
    architecture: summary.architecture ?? null,
    name: summary.name ?? null,
    parameters: summary.parameterCount,
    context_length: summary.contextLength ?? null,
    embedding_length: summary.embeddingLength ?? null,
    layers: summary.blockCount ?? null,
    heads: summary.headCount ?? null,
    kv_heads: summary.headCountKv ?? null,
    vocab_size: summary.vocabSize ?? null,
    chat_template: summary.chatTemplate !== undefined,
    quantization: summary.predominantType,
    tensor_types: summary.tensorTypes,
    tensor_count: file.tensors.length,
    size_at: sizes,
    memory: {
      context_size: contextSize,
      parallel: flags.parallel ?? 1,
      weights_bytes: memory.weightsBytes,
      repacked_bytes: memory.repackedBytes,
      engine: backend,
      mmap: memory.mmap,
      kv_cache_bytes: memory.kvCacheBytes,
      compute_bytes: memory.computeBytes,
      total_bytes: memory.totalBytes,
    },
    system: { total_bytes: system.totalBytes, available_bytes: system.availableBytes, source: system.source, limit_bytes: system.limitBytes ?? null },
    fits,
    trust: { status: trust.status, summary: trust.summary },
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const out = process.stdout;
  out.write(`${resolved.name}  (${resolved.path})\n\n`);
  printTable(out, [
    ["architecture", summary.architecture ?? "?"],
    ["parameters", formatCount(summary.parameterCount)],
    ["file size", formatBytes(file.fileSize)],
    ["quantization", summary.predominantType],
    ["tensor types", Object.entries(summary.tensorTypes).map(([t, n]) => `${t} ×${n}`).join(", ")],
    ["context length", String(summary.contextLength ?? "?")],
    ["embedding / layers / heads", `${summary.embeddingLength ?? "?"} / ${summary.blockCount ?? "?"} / ${summary.headCount ?? "?"} (kv ${summary.headCountKv ?? "?"})`],
    ["vocabulary", String(summary.vocabSize ?? "?")],
    ["chat template", summary.chatTemplate !== undefined ? "yes" : "no (plain fallback)"],
    ["signature", trust.summary],
  ]);
  out.write(`\nsize at other precisions (weights)\n`);
  printTable(out, Object.entries(sizes).map(([t, b]) => [t, formatBytes(b)]));
  out.write(`\nmemory at ${contextSize} tokens of context${(flags.parallel ?? 1) > 1 ? ` × ${flags.parallel} sequences` : ""} (estimate)\n`);
  printTable(out, [
    ["weights", formatBytes(memory.weightsBytes)],
    ["repacked copy (this CPU)", formatBytes(memory.repackedBytes)],
    ["model file", `${memory.mmap ? "mapped" : "read into memory"} by ${backend} (engine.mmap ${config.engine.mmap})`],
    ["KV cache (F16)", formatBytes(memory.kvCacheBytes)],
    ["compute buffers", formatBytes(memory.computeBytes)],
    ["total", formatBytes(memory.totalBytes)],
    ["available here", `${formatBytes(system.availableBytes)}${system.limitBytes !== undefined ? ` (${system.source} limit ${formatBytes(system.limitBytes)})` : ""}`],
    ["fits", fits ? "yes" : "no — try a smaller --ctx or a lower precision (edgelm quantize)"],
  ]);
}
