/**
 * The conversations behind stored Responses (`previous_response_id`): each
 * response id keeps the messages up to and including its output, in memory,
 * bounded by a count and a byte budget; the least recently used go first. A
 * gateway restart forgets them all (documented in docs/api.md).
 */
import type { ChatMessage } from "../engine/types.js";

interface Entry {
  model: string;
  messages: ChatMessage[];
  bytes: number;
}

export class ResponseStore {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  /**
   * @param maxEntries most responses kept (default 256; 0 keeps none)
   * @param maxBytes most bytes of message text kept together (default 32 MiB)
   */
  constructor(
    private readonly maxEntries = 256,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /** Keeps a response's conversation; one larger than the whole budget is not kept. */
  put(id: string, model: string, messages: ChatMessage[]): void {
    const bytes = sizeOf(messages);
    if (this.maxEntries === 0 || bytes > this.maxBytes) return;
    this.entries.set(id, { model, messages, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  /** The conversation of a kept response (and marks it recently used), or undefined. */
  get(id: string): { model: string; messages: ChatMessage[] } | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }
}

function sizeOf(messages: readonly ChatMessage[]): number {
  let bytes = 0;
  for (const m of messages) {
    bytes += Buffer.byteLength(m.content) + 64;
    for (const call of m.toolCalls ?? []) bytes += Buffer.byteLength(call.arguments) + call.name.length + call.id.length;
  }
  return bytes;
}
