/** Test data: stories260K re-written with a ChatML chat template in its metadata (weights unchanged). */
import { openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { readGguf } from "../../src/gguf/gguf-reader.js";
import { writeGguf } from "../../src/gguf/gguf-writer.js";
import { typedMetadata } from "../../src/gguf/typed-metadata.js";
import { GgufValueType, type GgufScalar, type TypedGgufValue } from "../../src/gguf/gguf-values.js";
import { TEST_MODEL } from "../helpers.js";

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The chat template from the hardening report: 10^8 loop iterations (the range alone grows without bound). */
export const HOSTILE_TEMPLATE = "{% for i in range(100000000) %}{{ 'x'*1000 }}{% endfor %}";

/** Loops that would run 10^10 times without allocating much: only a render deadline stops them. */
export const SPIN_TEMPLATE = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";

/** ChatML, except that a last message "boom" spins first (until the render deadline). */
export const BOOM_TEMPLATE = `{% if messages[-1]['content'] == 'boom' %}${SPIN_TEMPLATE}{% endif %}${CHATML_TEMPLATE}`;

/** Writes `dir`/`name` (stories260K with a chat template, and any metadata overrides: numbers as uint32) and returns its path. */
export async function writeTemplatedStories(
  dir: string,
  template = CHATML_TEMPLATE,
  overrides: Record<string, string | number> = {},
  name = "stories-chatml.gguf",
): Promise<string> {
  const typed: Record<string, TypedGgufValue> = { "tokenizer.chat_template": { type: GgufValueType.STRING, value: template } };
  for (const [key, value] of Object.entries(overrides)) {
    typed[key] = typeof value === "number" ? { type: GgufValueType.UINT32, value } : { type: GgufValueType.STRING, value };
  }
  return writeStoriesCopy(dir, name, typed);
}

/** Writes `dir`/`name`: stories260K's weights with these metadata values set (any type), and returns its path. */
export async function writeStoriesCopy(dir: string, name: string, overrides: Record<string, TypedGgufValue>): Promise<string> {
  const source = readGguf(TEST_MODEL);
  const metadata = typedMetadata(source, TEST_MODEL);
  for (const [key, value] of Object.entries(overrides)) metadata.set(key, value);
  const fd = openSync(TEST_MODEL, "r");
  try {
    const tensors = source.tensors.map((t) => {
      const data = new Uint8Array(t.byteSize);
      readSync(fd, data, 0, t.byteSize, t.fileOffset);
      return { name: t.name, dims: t.dims, type: t.type, data };
    });
    const path = join(dir, name);
    await writeGguf(path, { metadata, tensors });
    return path;
  } finally {
    closeSync(fd);
  }
}
