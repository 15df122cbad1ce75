/**
 * Which runner of a model holds a request's history: each runner remembers the
 * prompts it was given last, and a new request goes to the free runner whose
 * remembered prompt shares the longest prefix with it — a conversation's next
 * turn (its history plus a new message) lands where that history's KV cells
 * still are, and a new conversation joins a runner that has its system prompt.
 * Derived from the request's own text, not from a client-supplied id.
 */
import type { ChatMessage, GenerateRequest } from "../engine/types.js";

/** Characters of a prompt kept per remembered request (longer prompts are compared on this much). Default 64 KiB. */
export const AFFINITY_KEY_CHARS = 64 * 1024;
/** Fewest shared characters that count as holding a request's history (a chat template's opening is shorter). */
export const MIN_SHARED_CHARS = 64;

/**
 * The text a request's cached prefix follows: the raw prompt, or the chat
 * messages in order (role and content, as a template lays them out), cut at
 * AFFINITY_KEY_CHARS. Undefined for token-id prompts.
 */
export function affinityKey(request: Pick<GenerateRequest, "prompt" | "messages">): string | undefined {
  let key: string | undefined;
  if (request.prompt !== undefined) key = request.prompt;
  else if (request.messages) key = request.messages.map(messageText).join("");
  return key?.slice(0, AFFINITY_KEY_CHARS);
}

function messageText(message: ChatMessage): string {
  return `\u0000${message.role}\u0000${message.content}`;
}

/** Length of the common prefix of two strings. */
export function sharedPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** The prompts one runner was given most recently (as many as it has slots, twice over), newest last. */
export class RecentPrompts {
  private readonly keys: string[] = [];

  constructor(private readonly capacity: number) {}

  add(key: string): void {
    const at = this.keys.indexOf(key);
    if (at !== -1) this.keys.splice(at, 1);
    this.keys.push(key);
    if (this.keys.length > this.capacity) this.keys.shift();
  }

  /** The longest prefix `key` shares with a remembered prompt, in characters (0 when none reaches MIN_SHARED_CHARS). */
  longestShared(key: string): number {
    let best = 0;
    for (const k of this.keys) best = Math.max(best, sharedPrefixLength(k, key));
    return best >= MIN_SHARED_CHARS ? best : 0;
  }
}
