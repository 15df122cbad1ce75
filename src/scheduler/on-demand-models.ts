/**
 * Models in the store that the gateway was not configured to serve, served on
 * demand as Ollama does: a request for `name[:tag]` finds its store entry,
 * makes an (unloaded) pool for it, and that pool loads on its first request —
 * through the same trust path as every load (hash, signature policy, GGUF
 * checks). At most `maxLoaded` of them hold runners at once: loading one more
 * first unloads the least recently used idle one, or is refused (503) when all
 * are busy. An idle one unloads by itself after its keep-alive.
 */
import type { Config } from "../config/schema.js";
import { EdgeError } from "../errors.js";
import { readGguf } from "../gguf/gguf-reader.js";
import { summarizeGguf, type GgufSummary } from "../gguf/gguf-summary.js";
import { logger } from "../log.js";
import { parseStoreName } from "../store/model-ref.js";
import { ModelStore, type StoreEntry } from "../store/model-store.js";
import type { ModelPool, ServedModelSpec } from "./model-pool.js";
import type { ServedModelStatus } from "./served-model.js";

export interface OnDemandOptions {
  config: Config;
  /** Most on-demand models loaded at once (server.max_loaded_models). */
  maxLoaded: number;
  /** Makes a lazy pool for a spec, with the facts to show before it first loads and the hook to call before each load. */
  makePool(spec: ServedModelSpec, extra: { idleFacts: () => Partial<ServedModelStatus>; beforeLoad: (pool: ModelPool) => Promise<void> }): ModelPool;
}

interface OnDemandEntry {
  pool: ModelPool;
  /** The model blob (and adapters) it was made for: a store entry re-created under the same name with others gets a new pool. */
  files: string;
  lastUsed: number;
}

const HOLDS_RUNNERS = new Set(["loading", "ready", "restarting"]);

export class OnDemandModels {
  private readonly entries = new Map<string, OnDemandEntry>();
  private readonly summaries = new Map<string, GgufSummary | undefined>();
  private useCounter = 0;
  private closed = false;

  constructor(private readonly options: OnDemandOptions) {}

  private get store(): ModelStore {
    return ModelStore.open(this.options.config);
  }

  /** The pool serving the store entry `name` (`name:latest` when untagged), made on first use; undefined when the store has no such entry. */
  find(name: string): ModelPool | undefined {
    if (this.closed) return undefined;
    const entry = this.storeEntry(name);
    if (!entry) return undefined;
    const pool = this.poolFor(entry);
    this.entries.get(entry.reference)!.lastUsed = ++this.useCounter;
    return pool;
  }

  /** Every model entry of the store as a served model's status (loaded or not); adapter entries are no models. */
  statuses(): ServedModelStatus[] {
    if (this.closed) return [];
    return this.store
      .list()
      .filter((entry) => !entry.manifest.adapter_of)
      .map((entry) => this.poolFor(entry).describe());
  }

  /** Names of the store entries, for "did you mean" suggestions. */
  names(): string[] {
    return this.closed ? [] : this.store.list().map((e) => e.reference);
  }

  /** Stops and forgets the pool of `reference` (its entry was removed or replaced). */
  async forget(reference: string): Promise<void> {
    const known = this.entries.get(reference);
    if (!known) return;
    this.entries.delete(reference);
    await known.pool.close();
  }

  /** Stops every on-demand pool. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.entries.values()].map((e) => e.pool);
    this.entries.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private storeEntry(name: string): StoreEntry | undefined {
    try {
      return this.store.get(parseStoreName(name, "model")) ?? this.store.get(parseStoreName(name.toLowerCase(), "model"));
    } catch {
      return undefined; // not a store name (a path, hf:, ...) or a damaged manifest: not served from here
    }
  }

  private poolFor(entry: StoreEntry): ModelPool {
    const known = this.entries.get(entry.reference);
    const files = [entry.model.sha256, ...(entry.manifest.adapters ?? []).map((a) => `${a.sha256}@${a.scale}`)].join("+");
    if (known && known.files === files && known.pool.state !== "failed") return known.pool;
    if (known) {
      this.entries.delete(entry.reference);
      void known.pool.close();
    }
    const { config } = this.options;
    const spec: ServedModelSpec = {
      name: entry.reference,
      ref: entry.reference,
      parallel: config.server.parallel,
      runners: 1,
      ...(config.engine.context_size !== undefined ? { contextSize: config.engine.context_size } : {}),
      ...(config.engine.threads ? { threads: config.engine.threads } : {}),
    };
    const pool = this.options.makePool(spec, {
      idleFacts: () => this.idleFacts(entry),
      beforeLoad: (p) => this.makeRoom(p),
    });
    this.entries.set(entry.reference, { pool, files, lastUsed: ++this.useCounter });
    return pool;
  }

  /** What /api/tags shows of a model that has not loaded yet: from its manifest and GGUF header. */
  private idleFacts(entry: StoreEntry): Partial<ServedModelStatus> {
    const sha = entry.model.sha256;
    if (!this.summaries.has(sha)) {
      try {
        this.summaries.set(sha, summarizeGguf(readGguf(entry.model.path)));
      } catch (error) {
        logger.warn(`${entry.reference}: cannot read its GGUF header: ${(error as Error).message}`);
        this.summaries.set(sha, undefined);
      }
    }
    const summary = this.summaries.get(sha);
    return {
      path: entry.model.path,
      sha256: sha,
      fileSize: entry.size,
      modifiedAt: new Date(entry.manifest.created),
      ...(summary ? { summary } : {}),
      ...(entry.manifest.settings ? { settings: entry.manifest.settings } : {}),
      ...(entry.manifest.adapters && entry.manifest.adapters.length > 0
        ? { appliedAdapters: entry.manifest.adapters.map((a) => ({ ...a, path: this.store.blobPath(a.sha256) })) }
        : {}),
    };
  }

  /** Before `pool` loads: unload least recently used idle on-demand models until it fits under maxLoaded. */
  private async makeRoom(pool: ModelPool): Promise<void> {
    for (;;) {
      const loaded = [...this.entries.values()].filter((e) => e.pool !== pool && HOLDS_RUNNERS.has(e.pool.state));
      if (loaded.length < this.options.maxLoaded) return;
      const idle = loaded
        .filter((e) => {
          const q = e.pool.describe().queue;
          return q.inFlight === 0 && q.waiting === 0;
        })
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        throw new EdgeError(
          "model_not_ready",
          `cannot load ${pool.name}: ${loaded.length} on-demand models are loaded (server.max_loaded_models = ${this.options.maxLoaded}) and all are busy; retry shortly`,
          { retryAfter: 5 },
        );
      }
      logger.info(`unloading ${idle.pool.name} to load ${pool.name} (server.max_loaded_models = ${this.options.maxLoaded})`);
      await idle.pool.unload();
    }
  }
}
