/** A parsed file's metadata in the writer's typed form, so a file can be re-written with changes. */
import { EdgeError } from "../errors.js";
import type { GgufFile } from "./gguf-reader.js";
import { GgufValueType, type GgufScalar, type TypedGgufValue } from "./gguf-values.js";

/**
 * The metadata of `file` (read from `path`, named in errors) with each value's
 * wire type, in file order. Nested arrays cannot be written: `unsupported_model`.
 */
export function typedMetadata(file: GgufFile, path: string): Map<string, TypedGgufValue> {
  const out = new Map<string, TypedGgufValue>();
  for (const [key, { type, itemType }] of file.metadataTypes) {
    const value = file.metadata[key]!;
    if (type === GgufValueType.ARRAY) {
      if (itemType === GgufValueType.ARRAY) {
        throw new EdgeError("unsupported_model", `${path}: metadata "${key}" holds nested arrays, which edgelm cannot write`);
      }
      out.set(key, { type, itemType: itemType!, value: value as GgufScalar[] });
    } else {
      out.set(key, { type, value } as TypedGgufValue);
    }
  }
  return out;
}
