/**
 * Deterministic mutations of a valid GGUF file for fuzzing the reader:
 * truncations, bit flips, absurd counts, lengths, offsets and dimensions,
 * unknown types, hostile hyperparameters, wrong magic and version, shifted
 * and overwritten header bytes. Field positions come from tracing the reader
 * over the original file, so mutations hit real fields. Two kinds work on the
 * decoded metadata instead (gguf-document-mutator): edits of key-value arrays
 * and of the chat template, re-encoded into well-formed files.
 */
import { parseGguf } from "../../src/gguf/gguf-reader.js";
import { documentMutator } from "./gguf-document-mutator.js";

export interface GgufField {
  what: string;
  offset: number;
  length: number;
}

export interface GgufMutation {
  /** Reproducible description: kind, position, value. */
  name: string;
  bytes: Uint8Array;
}

/** Seeded PRNG (mulberry32): the same seed gives the same cases everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every header field of a valid file, in file order (duplicates removed). */
export function traceFields(bytes: Uint8Array): { fields: GgufField[]; dataOffset: number } {
  const fields: GgufField[] = [];
  const seen = new Set<number>();
  const file = parseGguf(bytes, (what, offset, length) => {
    if (!seen.has(offset)) fields.push({ what, offset, length });
    seen.add(offset);
  });
  return { fields, dataOffset: file.dataOffset };
}

const U64_ABSURD = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];
const U32_ABSURD = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 65535, 65536];

type Kind =
  | "truncate"
  | "bitflip"
  | "count"
  | "type"
  | "value"
  | "magic"
  | "version"
  | "shift"
  | "overwrite"
  | "splice"
  | "array"
  | "template";

const KINDS: Array<[Kind, number]> = [
  ["truncate", 14],
  ["bitflip", 22],
  ["count", 18],
  ["type", 10],
  ["value", 14],
  ["magic", 3],
  ["version", 3],
  ["shift", 6],
  ["overwrite", 6],
  ["splice", 4],
  ["array", 12],
  ["template", 8],
];

/** Generates `count` mutations of `base` from `seed`. */
export function* ggufMutations(base: Uint8Array, seed: number, count: number): Generator<GgufMutation> {
  const random = seededRandom(seed);
  const { fields, dataOffset } = traceFields(base);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const headerEnd = Math.min(base.length, dataOffset + 64);
  const isCount = (f: GgufField) => f.length === 8 && /^(tensor count|metadata count|length of|dimension \d|data offset)/.test(f.what);
  const isType = (f: GgufField) => f.length === 4 && /^(type of|item type of|dimension count of)/.test(f.what);
  const countFields = fields.filter(isCount);
  const typeFields = fields.filter(isType);
  // Metadata values (hyperparameters, token ids, scores), grouped by key so each key is as likely as the next.
  const valueGroups = new Map<string, GgufField[]>();
  for (const f of fields) {
    if (isCount(f) || isType(f) || /^(magic|version|metadata |name of)/.test(f.what) || f.length > 8) continue;
    valueGroups.set(f.what, [...(valueGroups.get(f.what) ?? []), f]);
  }
  const valueKeys = [...valueGroups.keys()];
  const documents = documentMutator(base, random);
  const total = KINDS.reduce((sum, [, w]) => sum + w, 0);
  for (let i = 0; i < count; i++) {
    let roll = int(total);
    const kind = KINDS.find(([, w]) => (roll -= w) < 0)![0];
    const bytes = base.slice();
    const view = new DataView(bytes.buffer);
    switch (kind) {
      case "truncate": {
        const at = random() < 0.6 ? int(headerEnd) : int(base.length);
        yield { name: `truncate@${at}`, bytes: bytes.subarray(0, at) };
        continue;
      }
      case "bitflip": {
        const flips = 1 + int(4);
        const where: number[] = [];
        for (let f = 0; f < flips; f++) {
          const at = random() < 0.85 ? int(headerEnd) : int(base.length);
          const bit = int(8);
          bytes[at] = bytes[at]! ^ (1 << bit);
          where.push(at * 8 + bit);
        }
        yield { name: `bitflip@${where.join(",")}`, bytes };
        continue;
      }
      case "count": {
        const field = pick(countFields);
        const value = random() < 0.7 ? pick(U64_ABSURD) : BigInt(view.getBigUint64(field.offset, true)) + BigInt(pick([-2, -1, 1, 2, 7, base.length]));
        view.setBigUint64(field.offset, BigInt.asUintN(64, value), true);
        yield { name: `count ${field.what}@${field.offset}=${value}`, bytes };
        continue;
      }
      case "type": {
        const field = pick(typeFields);
        const value = random() < 0.5 ? int(48) : pick(U32_ABSURD);
        view.setUint32(field.offset, value, true);
        yield { name: `type ${field.what}@${field.offset}=${value}`, bytes };
        continue;
      }
      case "value": {
        const field = pick(valueGroups.get(pick(valueKeys))!);
        const choice = int(4);
        if (field.length === 8) view.setBigUint64(field.offset, pick(U64_ABSURD), true);
        else if (field.length === 4) view.setUint32(field.offset, choice === 0 ? int(1 << 16) : pick(U32_ABSURD), true);
        else if (field.length === 2) view.setUint16(field.offset, int(65536), true);
        else bytes[field.offset] = int(256);
        yield { name: `value ${field.what}@${field.offset}`, bytes };
        continue;
      }
      case "magic":
        view.setUint32(0, random() < 0.5 ? 0x47475546 : int(2 ** 32), true);
        yield { name: `magic=${view.getUint32(0, true)}`, bytes };
        continue;
      case "version": {
        const value = pick([0, 1, 4, 5, 0xffff, 0xffffffff, 3 << 16]);
        view.setUint32(4, value, true);
        yield { name: `version=${value}`, bytes };
        continue;
      }
      case "shift": {
        const at = 8 + int(headerEnd - 8);
        const n = 1 + int(16);
        const shifted = random() < 0.5 ? concat(base.subarray(0, at), base.subarray(at + n)) : concat(base.subarray(0, at), new Uint8Array(n).fill(int(256)), base.subarray(at));
        yield { name: `shift@${at}±${n}`, bytes: shifted };
        continue;
      }
      case "overwrite": {
        const at = int(headerEnd);
        const n = 1 + int(64);
        bytes.fill(random() < 0.5 ? 0 : 0xff, at, Math.min(bytes.length, at + n));
        yield { name: `overwrite@${at}+${n}`, bytes };
        continue;
      }
      case "array":
        yield documents.array();
        continue;
      case "template":
        yield documents.template();
        continue;
      case "splice": {
        const from = int(headerEnd);
        const to = int(headerEnd);
        const n = 1 + int(128);
        bytes.set(base.subarray(from, Math.min(base.length, from + n)).slice(0, Math.max(0, bytes.length - to)), to);
        yield { name: `splice ${from}->${to}+${n}`, bytes };
        continue;
      }
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
