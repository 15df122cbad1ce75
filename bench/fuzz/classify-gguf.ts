/**
 * What edgelm does with one (possibly hostile) GGUF image: accepts it (the
 * reader parses it and load-safety passes it, so it would reach llama.cpp),
 * rejects it with an EdgeError code, or crashes (anything else thrown: a bug).
 */
import { checkLoadableFile } from "../../src/engine/load-safety.js";
import { isEdgeError } from "../../src/errors.js";
import { parseGguf } from "../../src/gguf/gguf-reader.js";

export type GgufCaseOutcome =
  | { outcome: "accepted" }
  | { outcome: "rejected"; code: string; message: string }
  | { outcome: "crash"; error: string };

export function classifyGguf(bytes: Uint8Array, label = "case"): GgufCaseOutcome {
  try {
    checkLoadableFile(parseGguf(bytes), label);
    return { outcome: "accepted" };
  } catch (error) {
    if (isEdgeError(error)) return { outcome: "rejected", code: error.code, message: error.message };
    return { outcome: "crash", error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}
