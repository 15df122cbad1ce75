/**
 * What edgelm does with one (possibly hostile) GGUF image: accepts it (the
 * reader parses it, load-safety passes it and its chat template is opened as
 * at load — parsed and probe-rendered within its limits, or replaced by the
 * fallback — so it would reach llama.cpp),
 * rejects it with an EdgeError code, or crashes (anything else thrown: a bug).
 */
import { ChatTemplate } from "../../src/engine/chat-template.js";
import { checkLoadableFile } from "../../src/engine/load-safety.js";
import { isEdgeError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/gguf-reader.js";

export type GgufCaseOutcome =
  | { outcome: "accepted" }
  | { outcome: "rejected"; code: string; message: string }
  | { outcome: "crash"; error: string };

export async function classifyGguf(bytes: Uint8Array, label = "case"): Promise<GgufCaseOutcome> {
  try {
    const file = parseGguf(bytes);
    checkLoadableFile(file, label);
    await (await ChatTemplate.open(file.metadata, label)).dispose();
    return { outcome: "accepted" };
  } catch (error) {
    if (isEdgeError(error)) return { outcome: "rejected", code: error.code, message: error.message };
    return { outcome: "crash", error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}
