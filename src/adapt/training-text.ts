/**
 * The text a model is fine-tuned on: one file, or every text file under a
 * folder (sorted by relative path, joined by a blank line). Its SHA-256 is
 * what a fine-tuned version records — never the text itself.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { EdgeError, toEdgeError } from "../errors.js";

/** File names a folder contributes (other files are skipped and listed). */
export const TRAINING_TEXT_EXTENSIONS = [".txt", ".md", ".text"] as const;

/** Bytes of training text read at most (64 MiB): far more than a device trains on in one go. */
export const MAX_TRAINING_TEXT_BYTES = 64 * 1024 * 1024;

export interface TrainingText {
  text: string;
  /** SHA-256 (hex) of the UTF-8 bytes trained on (the joined text). */
  sha256: string;
  bytes: number;
  /** Relative paths (a folder) or the one file's path, in the order joined. */
  files: string[];
  /** Files under a folder that were not read (wrong extension). */
  skipped: string[];
}

/** The SHA-256 of a training text, as the manifest records it. */
export function trainingTextHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Reads `path` (a file or a folder of text files).
 * Errors: file_not_found; invalid_request for an empty text, a file that is
 * not UTF-8 text (NUL bytes or invalid sequences), or more than `maxBytes`.
 */
export function readTrainingText(path: string, maxBytes = MAX_TRAINING_TEXT_BYTES): TrainingText {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    throw toEdgeError(error, `--text ${path}`);
  }
  const files: Array<{ name: string; full: string }> = [];
  const skipped: string[] = [];
  if (stat.isDirectory()) {
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile()) {
          const name = relative(path, full);
          if (TRAINING_TEXT_EXTENSIONS.some((ext) => entry.name.toLowerCase().endsWith(ext))) files.push({ name, full });
          else skipped.push(name);
        }
      }
    };
    walk(path);
    if (files.length === 0) {
      throw new EdgeError("invalid_request", `--text ${path} holds no text files (${TRAINING_TEXT_EXTENSIONS.join(", ")})`, { param: "--text" });
    }
  } else if (stat.isFile()) {
    files.push({ name: path, full: path });
  } else {
    throw new EdgeError("not_a_file", `--text ${path} is neither a file nor a folder`, { param: "--text" });
  }
  const parts: string[] = [];
  let bytes = 0;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (const file of files) {
    const size = statSync(file.full).size;
    bytes += size;
    if (bytes > maxBytes) {
      throw new EdgeError("payload_too_large", `--text ${path} holds more than ${maxBytes} bytes of text; train on a smaller folder`, { param: "--text" });
    }
    const raw = readFileSync(file.full);
    if (raw.includes(0)) throw new EdgeError("invalid_request", `${file.name} is not a text file (it holds NUL bytes)`, { param: "--text" });
    try {
      parts.push(decoder.decode(raw));
    } catch {
      throw new EdgeError("invalid_request", `${file.name} is not UTF-8 text`, { param: "--text" });
    }
  }
  const text = parts.join("\n\n");
  if (text.trim().length === 0) throw new EdgeError("invalid_request", `--text ${path} is empty`, { param: "--text" });
  return { text, sha256: trainingTextHash(text), bytes: Buffer.byteLength(text, "utf8"), files: files.map((f) => f.name), skipped };
}
