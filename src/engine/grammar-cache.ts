/**
 * Compiled grammars kept for reuse, bounded by entries and by bytes: the
 * least recently used go first. A runner serves many clients, and each new
 * JSON schema compiles to a new grammar; without a bound, a client sending
 * distinct schemas grows the runner without end (3,400 small schemas took one
 * from 88 to 189 MB, 400 schemas with 3,000-value enums to 568 MB).
 *
 *   const cache = new GrammarCache<LlamaGrammar>({ maxEntries: 256, maxBytes: 64 << 20 }, (g) => g.grammar.length * 10);
 *   const grammar = await cache.get(key, () => compile(schema));
 */
import { GRAMMAR_CACHE_DEFAULTS } from "../config/sections/engine.js";

export interface GrammarCacheLimits {
  /** Most grammars kept (config `engine.grammar_cache.max_entries`). */
  maxEntries: number;
  /** Most estimated bytes they may hold together (`engine.grammar_cache.max_bytes`). */
  maxBytes: number;
}

/** The bounds config `engine.grammar_cache` sets. */
export function grammarCacheLimits(section: { max_entries: number; max_bytes: number }): GrammarCacheLimits {
  return { maxEntries: section.max_entries, maxBytes: section.max_bytes };
}

/** The bounds when none are given: the defaults of `engine.grammar_cache`. */
export const DEFAULT_GRAMMAR_CACHE_LIMITS: Readonly<GrammarCacheLimits> = grammarCacheLimits(GRAMMAR_CACHE_DEFAULTS);

export interface GrammarCacheStats {
  entries: number;
  /** Estimated bytes of the kept grammars (their keys included). */
  bytes: number;
  /** Grammars dropped to stay within the limits, since start. */
  evictions: number;
}

interface Entry<T> {
  value: Promise<T>;
  bytes: number;
}

export class GrammarCache<T> {
  /** In use order, least recent first (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<string, Entry<T>>();
  private bytes = 0;
  private evictions = 0;

  /**
   * @param limits the bounds (both hold after every insertion)
   * @param sizeOf the estimated bytes one compiled value holds
   */
  constructor(
    private readonly limits: GrammarCacheLimits,
    private readonly sizeOf: (value: T) => number,
  ) {}

  /**
   * The value kept for `key`, else `make()`'s, which is kept once it resolves
   * (a failure is not kept). Concurrent gets of one key share one make().
   */
  get(key: string, make: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }
    const entry: Entry<T> = { value: make(), bytes: keyBytes(key) };
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        const bytes = keyBytes(key) + this.sizeOf(value);
        this.bytes += bytes - entry.bytes;
        entry.bytes = bytes;
        // One grammar over the byte limit by itself serves its request and is not kept (nothing else is dropped for it).
        if (bytes > this.limits.maxBytes) this.remove(key, entry);
        else this.evict();
      },
      () => this.remove(key, entry),
    );
    this.evict();
    return entry.value;
  }

  stats(): GrammarCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, evictions: this.evictions };
  }

  /** Drops the least recently used entries until both limits hold. */
  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) return;
      this.remove(key, entry);
      this.evictions++;
    }
  }

  private remove(key: string, entry: Entry<T>): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

/** A key's cost: a JS string of that length (two bytes a code unit). */
function keyBytes(key: string): number {
  return key.length * 2;
}
