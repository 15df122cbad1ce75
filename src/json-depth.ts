/**
 * Nesting budgets for JSON, measured without recursion so that measuring can
 * never overflow the stack it protects: on request text before it is parsed
 * (the gateway's body parser) and on values before they cross a process
 * boundary (a runner's IPC channel, whose deserializer recurses per level).
 */

/**
 * The deepest nesting of objects and arrays in JSON text, counting up to
 * `limit + 1` and stopping there (a 60 KB body of 10,000 levels costs one
 * short scan). Brackets inside strings do not count. Text that is not JSON
 * gets a depth too; the parser reports it afterwards.
 */
export function jsonTextDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return deepest;
}

export interface ValueSize {
  /** Deepest nesting of objects and arrays (a scalar is 0), counted up to the limit + 1. */
  depth: number;
  /** Objects, arrays and scalars seen (the walk stops once a limit is passed). */
  nodes: number;
  /** A rough wire size: string lengths plus 8 per value, in bytes. */
  bytes: number;
}

/**
 * Walks `value` iteratively (no recursion), stopping as soon as it is deeper
 * than `limits.depth` or larger than `limits.bytes`.
 */
export function measureValue(value: unknown, limits: { depth: number; bytes: number }): ValueSize {
  const size: ValueSize = { depth: 0, nodes: 0, bytes: 0 };
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    size.nodes++;
    size.bytes += 8;
    if (typeof item === "string") size.bytes += item.length;
    if (item === null || typeof item !== "object") continue;
    const level = depth + 1;
    if (level > size.depth) size.depth = level;
    if (size.depth > limits.depth || size.bytes > limits.bytes) return size;
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, level]);
    } else if (ArrayBuffer.isView(item)) {
      size.bytes += item.byteLength;
    } else {
      for (const [key, child] of Object.entries(item)) {
        size.bytes += key.length;
        stack.push([child, level]);
      }
    }
  }
  return size;
}
