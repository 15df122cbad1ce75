/**
 * Mutations at the level of decoded metadata, re-encoded into a well-formed
 * file: edits of key-value arrays (the vocabulary, scores, token types) and of
 * the chat template. Byte-level mutations rarely produce these (a bit flip
 * leaves an array's length and its items consistent only by chance), and they
 * reach the checks after parsing: load safety, the chat-template parser, and
 * llama.cpp's own vocabulary loading. Tensor data is copied unchanged.
 */
import { parseGguf, type GgufFile } from "../../src/gguf/gguf-reader.js";
import { GgufValueType, type GgufScalar, type TypedGgufValue } from "../../src/gguf/gguf-values.js";
import { encodeGgufHeader, type GgufTensorSpec } from "../../src/gguf/gguf-writer.js";
import { typedMetadata } from "../../src/gguf/typed-metadata.js";

export interface DocumentMutation {
  name: string;
  bytes: Uint8Array;
}

/** A ChatML template, the base for template mutations when the model has none (stories260K). */
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Template fragments a hostile or broken GGUF could carry: loops, recursion, deep nesting, bad syntax, odd bytes. */
const TEMPLATE_FRAGMENTS = [
  "{% for i in range(100000000) %}{{ 'x' * 1000 }}{% endfor %}",
  "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
  "{{ raise_exception('no system role') }}",
  "{% if %}",
  "{{",
  "}}",
  "{% endfor %}",
  "{% raw %}",
  "{{ messages[1000000]['content'] }}",
  "{{ messages | tojson }}",
  "{{ x | no_such_filter }}",
  "{% set ns = namespace(a=1) %}{{ ns.a }}",
  "{{ '\\u0000' }}",
  "\u0000",
  "\uFFFD\uD7FF",
  "{# unclosed comment",
  "{{ (((((((((( 1 )))))))))) }}",
  "{{ bos_token * 100000 }}",
  "{% for m in messages %}{% for n in messages %}{% for o in messages %}{{ m.role }}{% endfor %}{% endfor %}{% endfor %}",
];

/** Prepares document mutations of `base`, drawing choices from `random`. */
export function documentMutator(base: Uint8Array, random: () => number): { array: () => DocumentMutation; template: () => DocumentMutation } {
  const file = parseGguf(base);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const arrayKeys = [...file.metadataTypes].filter(([, t]) => t.type === GgufValueType.ARRAY).map(([k]) => k);

  const array = (): DocumentMutation => {
    const metadata = typedMetadata(file, "fuzz base");
    const key = pick(arrayKeys);
    const entry = metadata.get(key) as Extract<TypedGgufValue, { type: GgufValueType.ARRAY }>;
    const items = [...entry.value];
    const at = int(items.length);
    const strings = entry.itemType === GgufValueType.STRING;
    let edit: string;
    switch (int(9)) {
      case 0:
        edit = `drop ${items.splice(at, 1 + int(3)).length} at ${at}`;
        break;
      case 1:
        items.push(...items.slice(at, at + 1 + int(3)));
        edit = `append copies of ${at}`;
        break;
      case 2:
        items[at] = items[int(items.length)]!;
        edit = `duplicate into ${at}`;
        break;
      case 3:
        items.length = pick([0, 1, 255, 256, 257]);
        if (items.some((v) => v === undefined)) items.fill(strings ? "" : 0, entry.value.length);
        edit = `resize to ${items.length}`;
        break;
      case 4:
        items[at] = strings ? pick(["", "\u0000", "a\u0000b", "<0x00>", "x".repeat(70_000), "\uFFFD"]) : pick([NaN, Infinity, -Infinity, -1, 2 ** 31, 1e30]);
        edit = `odd item at ${at}`;
        break;
      case 5: {
        const other = [...items];
        for (let i = other.length - 1; i > 0; i--) {
          const j = int(i + 1);
          [other[i], other[j]] = [other[j]!, other[i]!];
        }
        items.splice(0, items.length, ...other);
        edit = "shuffle";
        break;
      }
      case 6: {
        // The same items under another item type (strings become numbers and back).
        const itemType = pick([GgufValueType.UINT8, GgufValueType.INT32, GgufValueType.FLOAT32, GgufValueType.STRING, GgufValueType.BOOL, GgufValueType.UINT64]);
        metadata.set(key, { type: GgufValueType.ARRAY, itemType, value: items.map((v, i) => convert(v, itemType, i)) });
        return encode(file, base, metadata, `array ${key} as type ${itemType}`);
      }
      case 7: {
        // A large but legal array next to the vocabulary: the header budget's territory.
        const n = pick([1 << 16, 1 << 20, (1 << 21) + 1]);
        metadata.set(`${key}.extra`, { type: GgufValueType.ARRAY, itemType: GgufValueType.UINT8, value: new Array<number>(n).fill(1) });
        return encode(file, base, metadata, `array ${key}.extra of ${n} items`);
      }
      default:
        metadata.delete(key);
        return encode(file, base, metadata, `array ${key} removed`);
    }
    metadata.set(key, { ...entry, value: items });
    return encode(file, base, metadata, `array ${key}: ${edit}`);
  };

  const template = (): DocumentMutation => {
    const metadata = typedMetadata(file, "fuzz base");
    let text = typeof file.metadata["tokenizer.chat_template"] === "string" ? (file.metadata["tokenizer.chat_template"] as string) : CHATML;
    const edits: string[] = [];
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(text.length + 1);
      switch (int(5)) {
        case 0: {
          const fragment = pick(TEMPLATE_FRAGMENTS);
          text = text.slice(0, at) + fragment + text.slice(at);
          edits.push(`insert#${TEMPLATE_FRAGMENTS.indexOf(fragment)}@${at}`);
          break;
        }
        case 1: {
          const n = 1 + int(20);
          text = text.slice(0, at) + text.slice(at + n);
          edits.push(`cut${n}@${at}`);
          break;
        }
        case 2: {
          const depth = pick([50, 500, 5000]);
          text = `${"{% if true %}".repeat(depth)}${text}${"{% endif %}".repeat(depth)}`;
          edits.push(`nest${depth}`);
          break;
        }
        case 3:
          text = text.slice(0, at) + text.slice(int(text.length)) + text.slice(at);
          edits.push(`splice@${at}`);
          break;
        default:
          text = pick(["", " ", "x".repeat(1 << 20), text.repeat(64)]);
          edits.push(`replace${text.length}`);
      }
    }
    metadata.set("tokenizer.chat_template", { type: GgufValueType.STRING, value: text });
    return encode(file, base, metadata, `template ${edits.join(",")}`);
  };

  return { array, template };
}

function convert(value: GgufScalar, type: GgufValueType, index: number): GgufScalar {
  const n = typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : typeof value === "boolean" ? Number(value) : index;
  switch (type) {
    case GgufValueType.STRING:
      return String(value);
    case GgufValueType.BOOL:
      return n % 2 === 1;
    case GgufValueType.UINT8:
      return Number.isFinite(n) ? Math.abs(Math.trunc(n)) % 256 : 0;
    case GgufValueType.INT32:
      return Number.isFinite(n) ? Math.trunc(n) | 0 : 0;
    case GgufValueType.UINT64:
      return BigInt(Number.isFinite(n) ? Math.abs(Math.trunc(n)) : 0);
    default:
      return n;
  }
}

/** Re-encodes `file` with new metadata, tensor data copied from `base` (the bytes `file` was parsed from). */
function encode(file: GgufFile, base: Uint8Array, metadata: Map<string, TypedGgufValue>, name: string): DocumentMutation {
  const tensors: GgufTensorSpec[] = file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: new Uint8Array(0) }));
  const { header, offsets, dataSize } = encodeGgufHeader({ metadata, tensors });
  const bytes = new Uint8Array(header.length + dataSize);
  bytes.set(header, 0);
  file.tensors.forEach((t, i) => bytes.set(base.subarray(t.fileOffset, t.fileOffset + t.byteSize), header.length + offsets[i]!));
  return { name, bytes };
}
