/** Test fixture: the part of a fine-tuned model a LoRA adapter can carry. */
import { open } from "node:fs/promises";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { writeGguf } from "../../src/gguf/gguf-writer.js";
import { typedMetadata } from "../../src/gguf/typed-metadata.js";

/** `tuned` with the base's 1-D tensors (norms): the part of a fine-tune a LoRA adapter can carry. */
export async function matricesOnly(basePath: string, tunedPath: string, output: string): Promise<void> {
  const base = readGguf(basePath);
  const tuned = readGguf(tunedPath);
  const baseByName = new Map(base.tensors.map((t) => [t.name, t]));
  const baseFile = await open(basePath, "r");
  const tunedFile = await open(tunedPath, "r");
  try {
    await writeGguf(output, {
      metadata: typedMetadata(tuned, tunedPath),
      tensors: tuned.tensors.map((t) => {
        const from = t.dims.length === 1 ? { file: baseFile, info: baseByName.get(t.name)! } : { file: tunedFile, info: t };
        return {
          name: t.name,
          dims: t.dims,
          type: t.type,
          data: async function* () {
            const bytes = new Uint8Array(from.info.byteSize);
            await from.file.read(bytes, 0, bytes.length, from.info.fileOffset);
            yield bytes;
          },
        };
      }),
    });
  } finally {
    await baseFile.close();
    await tunedFile.close();
  }
}

