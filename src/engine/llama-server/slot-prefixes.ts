/**
 * Warm prefixes of one llama-server runner: prompt prefixes (a chat's rendered
 * system prompt) whose KV state is computed once and copied into every slot,
 * so a conversation that starts with one evaluates only its own tokens.
 *
 * How llama-server makes this work (tools/server/server-context.cpp):
 * - a request with `cache_prompt` keeps the longest common token prefix of its
 *   slot's cache and evaluates only the rest (update_slots: `get_common_prefix`);
 * - a request without `id_slot` goes to the idle slot whose cache shares the
 *   largest fraction of its prompt (get_available_slot, `--slot-prompt-similarity`,
 *   default 0.1), else to the least recently used idle slot — so a conversation's
 *   next turn lands on the slot holding its history while that slot is idle;
 * - `POST /slots/{id}?action=save|restore` writes and reads one slot's sequence
 *   state (llama_state_seq_save_file / _load_file: its tokens and KV cells) in the
 *   folder given by `--slot-save-path`; a restore into another slot is a copy.
 * So a prefix is evaluated once (in one slot), saved, and restored into the
 * others (a file read, milliseconds, instead of seconds of prompt evaluation).
 *
 * Saved states outlive the process: they are copied to `cacheDir`
 * ($EDGELM_HOME/prefix-cache/<model sha256>/), named by the hash of the prefix
 * text and the llama-server version, and restored at the next start instead of
 * evaluated. A model file with another hash has another folder, so a state made
 * for an older file is never loaded into a new one. The runner process itself
 * (sandboxed: it never sees $EDGELM_HOME) only reads and writes its own folder;
 * the gateway copies files between the two.
 *
 * Learned prefixes (a system prompt seen `learn_after` times) are evaluated once
 * in an idle slot and saved with their text beside the state (`.txt`); from the
 * next start on they are placed like configured ones.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { commitFile, siblingTempPath, writeFileAtomic } from "../../atomic-write.js";
import { logger } from "../../log.js";

/** The calls this needs from a llama-server process. */
export interface SlotProcess {
  call<T>(method: "GET" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<T>;
  /** The folder passed as `--slot-save-path` (the process's own). */
  readonly slotFolder: string;
}

export interface SlotPrefixesOptions {
  process: SlotProcess;
  /** Slots of the process (`--parallel`). */
  slots: number;
  /** llama-server's version string: part of each saved state's name (its state format and tokenizer). */
  version: string;
  /** Where saved states persist for this model file (its sha256 in the path); absent: nothing persists. */
  cacheDir?: string;
  /** Most bytes of saved states kept in `cacheDir`; the least recently used are removed past it. */
  maxDiskBytes: number;
  /** Fields every /completion body carries (the runner's probe). */
  completionExtras: Record<string, unknown>;
  label: string;
}

/** What warming one prefix did. */
export interface WarmedPrefix {
  name: string;
  /** Where its state came from: a saved file (`restored`) or a prompt evaluation (`evaluated`). */
  source: "restored" | "evaluated";
  /** Tokens in the saved state. */
  tokens: number;
  /** Bytes of one copy of the state (one slot's). */
  bytes: number;
  slots: number[];
}

interface SlotSaveReply {
  n_saved?: number;
  n_written?: number;
  n_restored?: number;
  n_read?: number;
}

/** The file name of a prefix's saved state: only letters, digits and dashes (llama-server checks names). */
export function prefixStateName(text: string, version: string): string {
  return `prefix-${createHash("sha256").update(version).update("\0").update(text).digest("hex").slice(0, 40)}.bin`;
}

/** The texts of learned prefixes saved in `dir`, most recently used first (those whose state is there too). */
export function learnedPrefixTexts(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return [];
  const found: Array<{ text: string; used: number }> = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith("prefix-") || !name.endsWith(".txt")) continue;
    const state = join(dir, name.replace(/\.txt$/, ".bin"));
    try {
      if (!existsSync(state)) continue;
      found.push({ text: readFileSync(join(dir, name), "utf8"), used: statSync(state).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return found.sort((a, b) => b.used - a.used).map((f) => f.text);
}

export class SlotPrefixes {
  private readonly warmed: WarmedPrefix[] = [];
  private readonly learning = new Set<string>();

  constructor(private readonly options: SlotPrefixesOptions) {}

  /** The prefixes warmed so far. */
  get prefixes(): readonly WarmedPrefix[] {
    return this.warmed;
  }

  /** Bytes of KV state the warm prefixes hold in the slots (every copy). */
  get slotBytes(): number {
    return this.warmed.reduce((sum, p) => sum + p.bytes * p.slots.length, 0);
  }

  /**
   * Puts each prefix into slots: with k prefixes, slot s holds prefix s mod k
   * (one prefix: every slot). Prefixes beyond the slot count are not placed.
   * A prefix that cannot be warmed (too long, refused) is logged and skipped:
   * requests still work, they evaluate it themselves.
   */
  async warm(texts: readonly string[], signal?: AbortSignal): Promise<WarmedPrefix[]> {
    const { slots } = this.options;
    const placed = texts.slice(0, slots);
    if (texts.length > slots) logger.warn(`${this.options.label}: ${texts.length} warm prefixes but ${slots} slots; the last ${texts.length - slots} are not placed`);
    const done: WarmedPrefix[] = [];
    for (const [k, text] of placed.entries()) {
      const slotIds = Array.from({ length: slots }, (_, s) => s).filter((s) => s % placed.length === k);
      try {
        const warmed = await this.warmOne(text, slotIds, signal);
        this.warmed.push(warmed);
        done.push(warmed);
      } catch (error) {
        if (signal?.aborted) throw error;
        logger.warn(`${this.options.label}: warm prefix ${k + 1} (${text.length} characters) was not warmed: ${(error as Error).message}`);
      }
    }
    return done;
  }

  /**
   * Keeps a prefix learned from traffic: evaluated once in an idle slot (llama-server
   * defers the evaluation if that slot is taken meanwhile), saved with its text in
   * `cacheDir`, and counted as warm (in that one slot; in every slot from the next start).
   * Without a cache folder, or when the prefix is warm or being learned, it does nothing.
   */
  async learn(text: string, signal?: AbortSignal): Promise<WarmedPrefix | undefined> {
    const dir = this.options.cacheDir;
    const name = prefixStateName(text, this.options.version);
    if (!dir || this.learning.has(name) || this.warmed.some((w) => w.name === name)) return undefined;
    this.learning.add(name);
    try {
      const slots = await this.options.process.call<Array<{ id: number; is_processing?: boolean }>>("GET", "/slots", undefined, signal);
      const idle = slots.filter((s) => !s.is_processing).map((s) => s.id);
      const slot = idle[idle.length - 1] ?? slots[slots.length - 1]?.id ?? 0;
      await this.options.process.call("POST", "/completion", { ...this.options.completionExtras, prompt: text, n_predict: 1, temperature: 0, cache_prompt: true, id_slot: slot }, signal);
      const reply = await this.options.process.call<SlotSaveReply>("POST", `/slots/${slot}?action=save`, { filename: name }, signal);
      await this.persist(name, join(dir, name));
      await writeFileAtomic(join(dir, name.replace(/\.bin$/, ".txt")), text, 0o600);
      rmSync(join(this.options.process.slotFolder, name), { force: true });
      const learned: WarmedPrefix = { name, source: "evaluated", tokens: reply.n_saved ?? 0, bytes: reply.n_written ?? 0, slots: [slot] };
      this.warmed.push(learned);
      return learned;
    } finally {
      this.learning.delete(name);
    }
  }

  private async warmOne(text: string, slotIds: number[], signal?: AbortSignal): Promise<WarmedPrefix> {
    const name = prefixStateName(text, this.options.version);
    const [first, ...rest] = slotIds as [number, ...number[]];
    let source: WarmedPrefix["source"] = "evaluated";
    let state: { tokens: number; bytes: number } | undefined;
    const saved = this.options.cacheDir ? join(this.options.cacheDir, name) : undefined;
    if (saved && existsSync(saved)) {
      try {
        const local = join(this.options.process.slotFolder, name);
        copyFileSync(saved, local);
        chmodSync(local, 0o644);
        state = await this.restore(first, name, signal);
        source = "restored";
        const now = new Date();
        utimesSync(saved, now, now);
      } catch (error) {
        if (signal?.aborted) throw error;
        // A state this llama-server cannot read (another version's format, a damaged file) is removed and made again.
        logger.warn(`${this.options.label}: the saved state of a warm prefix could not be restored (${(error as Error).message}); evaluating it`);
        rmSync(saved, { force: true });
      }
    }
    if (!state) {
      await this.options.process.call("POST", "/completion", { ...this.options.completionExtras, prompt: text, n_predict: 1, temperature: 0, cache_prompt: true, id_slot: first }, signal);
      const reply = await this.options.process.call<SlotSaveReply>("POST", `/slots/${first}?action=save`, { filename: name }, signal);
      state = { tokens: reply.n_saved ?? 0, bytes: reply.n_written ?? 0 };
      if (saved) await this.persist(name, saved);
    }
    for (const slot of rest) await this.restore(slot, name, signal);
    rmSync(join(this.options.process.slotFolder, name), { force: true });
    return { name, source, tokens: state.tokens, bytes: state.bytes, slots: slotIds };
  }

  private async restore(slot: number, name: string, signal?: AbortSignal): Promise<{ tokens: number; bytes: number }> {
    const reply = await this.options.process.call<SlotSaveReply>("POST", `/slots/${slot}?action=restore`, { filename: name }, signal);
    return { tokens: reply.n_restored ?? 0, bytes: reply.n_read ?? 0 };
  }

  /** Copies a state the process saved into the model's cache folder (all or nothing), then trims the folder to its budget. */
  private async persist(name: string, target: string): Promise<void> {
    const dir = this.options.cacheDir!;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const temp = siblingTempPath(target);
      copyFileSync(join(this.options.process.slotFolder, name), temp);
      chmodSync(temp, 0o600);
      await commitFile(temp, target);
      trimFolder(dir, this.options.maxDiskBytes, name);
    } catch (error) {
      logger.warn(`${this.options.label}: cannot keep a warm prefix's state in ${dir}: ${(error as Error).message}`);
    }
  }
}

/** Removes the least recently used saved states of `dir` until it holds at most `maxBytes` (never `keep`). */
export function trimFolder(dir: string, maxBytes: number, keep?: string): void {
  const files = readdirSync(dir)
    .filter((n) => n.startsWith("prefix-") && n.endsWith(".bin"))
    .map((n) => {
      const stat = statSync(join(dir, n));
      return { name: n, size: stat.size, used: stat.mtimeMs };
    })
    .sort((a, b) => a.used - b.used);
  let total = files.reduce((sum, f) => sum + f.size, 0);
  for (const file of files) {
    if (total <= maxBytes) break;
    if (file.name === keep) continue;
    rmSync(join(dir, file.name), { force: true });
    rmSync(join(dir, file.name.replace(/\.bin$/, ".txt")), { force: true });
    total -= file.size;
  }
}
