/**
 * A llama-server runner's shared-prefix cache: the warm prefixes evaluated (or
 * restored) once at start and copied into every slot (slot-prefixes.ts), the
 * system prompts it learns after `learn_after` sightings, and its counters
 * (hits, misses, prompt tokens reused vs evaluated). docs/performance.md.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { logger } from "../../log.js";
import type { ChatTemplate } from "../chat-template.js";
import type { PrefixCacheFigures } from "../runner.js";
import type { GenerateRequest, PrefixCacheOptions } from "../types.js";
import type { LlamaServerBinary } from "./llama-server-binary.js";
import type { LlamaServerProcess } from "./llama-server-process.js";
import { learnedPrefixTexts, SlotPrefixes } from "./slot-prefixes.js";

/** What the cache needs of its runner. */
export interface PrefixCacheHost {
  readonly label: string;
  chatTemplate(): ChatTemplate;
  /** True when llama-server adds the BOS token itself (the prefix text then leaves it out). */
  addsBos(): boolean;
  /** Fields every completion carries (the chat-parser override), as sent with the warm-up requests. */
  completionExtras(): Record<string, unknown>;
  /** True once the runner is stopping or gone (a failed learn is then not worth a warning). */
  stopped(): boolean;
}

export class RunnerPrefixCache {
  private slotPrefixes: SlotPrefixes | undefined;
  private readonly counts = { hits: 0, misses: 0, promptTokensReused: 0, promptTokensEvaluated: 0 };
  private readonly systemSeen = new Map<string, number>();

  constructor(
    private readonly options: PrefixCacheOptions | undefined,
    private readonly host: PrefixCacheHost,
  ) {}

  /** Counts one generation: a hit reuses at least half of its prompt. */
  countReuse(promptTokens: number, cached: number): void {
    const c = this.counts;
    if (promptTokens <= 0) return;
    if (cached * 2 >= promptTokens) c.hits++;
    else c.misses++;
    c.promptTokensReused += cached;
    c.promptTokensEvaluated += Math.max(0, promptTokens - cached);
  }

  /**
   * Evaluates (or restores from $EDGELM_HOME) each configured and learned warm
   * prefix once and copies it into the slots. A prefix that fails is logged and
   * skipped; the runner still starts.
   */
  async warm(main: LlamaServerProcess, binary: LlamaServerBinary, slots: number, timeoutMs: number): Promise<void> {
    const options = this.options;
    if (!options) return;
    if (!binary.flags.has("--slot-save-path")) {
      logger.warn(`${this.host.label}: this llama-server has no --slot-save-path; warm prefixes are not precomputed`);
      return;
    }
    const texts: string[] = [];
    for (const system of options.warmPrefixes) {
      try {
        const text = await this.systemPrefix(system);
        if (text.length > 0 && !texts.includes(text)) texts.push(text);
      } catch (error) {
        logger.warn(`${this.host.label}: a warm prefix could not be rendered with the model's chat template: ${(error as Error).message}`);
      }
    }
    const cacheDir = options.dir && options.modelSha256 ? join(options.dir, options.modelSha256) : undefined;
    // Learned prefixes saved for this model hash join the configured ones, up to max_prefixes.
    for (const text of learnedPrefixTexts(cacheDir)) if (!texts.includes(text)) texts.push(text);
    texts.splice(options.maxPrefixes ?? 4);
    this.slotPrefixes = new SlotPrefixes({
      process: main,
      slots,
      version: binary.version,
      ...(cacheDir ? { cacheDir } : {}),
      maxDiskBytes: options.maxDiskBytes,
      completionExtras: this.host.completionExtras(),
      label: this.host.label,
    });
    const started = performance.now();
    const warmed = await this.slotPrefixes.warm(texts, AbortSignal.timeout(timeoutMs));
    for (const w of warmed) {
      logger.info(`${this.host.label}: warm prefix of ${w.tokens} tokens ${w.source} into ${w.slots.length} slot(s) in ${Math.round(performance.now() - started)} ms`);
    }
  }

  /**
   * Counts a chat's system prompt; at `learn_after` sightings it is learned
   * (slot-prefixes.ts), in the background, unless max_prefixes are warm already.
   */
  noteSystemPrompt(request: GenerateRequest): void {
    const learnAfter = this.options?.learnAfter ?? 0;
    const first = request.messages?.[0];
    if (learnAfter <= 0 || !this.slotPrefixes || first?.role !== "system" || first.content.length === 0) return;
    if (this.slotPrefixes.prefixes.length >= (this.options?.maxPrefixes ?? 4)) return;
    const key = createHash("sha256").update(first.content).digest("hex");
    const seen = (this.systemSeen.get(key) ?? 0) + 1;
    if (this.systemSeen.size >= 1024 && !this.systemSeen.has(key)) this.systemSeen.clear();
    this.systemSeen.set(key, seen);
    if (seen !== learnAfter) return;
    const prefixes = this.slotPrefixes;
    void this.systemPrefix(first.content)
      .then((text) => prefixes.learn(text))
      .then((learned) => {
        if (learned) logger.info(`${this.host.label}: learned a warm prefix of ${learned.tokens} tokens (seen ${seen} times)`);
      })
      .catch((error: Error) => {
        if (!this.host.stopped()) logger.warn(`${this.host.label}: a prefix seen ${seen} times could not be kept: ${error.message}`);
      });
  }

  /** The counters and what the warm prefixes hold. */
  figures(): PrefixCacheFigures {
    const prefixes = this.slotPrefixes?.prefixes ?? [];
    return {
      ...this.counts,
      warmPrefixes: prefixes.length,
      warmPrefixesRestored: prefixes.filter((p) => p.source === "restored").length,
      warmPrefixBytes: this.slotPrefixes?.slotBytes ?? 0,
    };
  }

  /**
   * The text a chat with this system prompt starts with, as sent to llama-server:
   * the common part of two renders that differ only in the user's message (so it
   * holds the template's framing of the system message and nothing of the user's).
   */
  private async systemPrefix(system: string): Promise<string> {
    const template = this.host.chatTemplate();
    const render = async (user: string): Promise<string> =>
      (
        await template.render([
          { role: "system", content: system },
          { role: "user", content: user },
        ])
      ).text;
    const [a, b] = await Promise.all([render("A"), render("B")]);
    let n = 0;
    while (n < a.length && a.charCodeAt(n) === b.charCodeAt(n)) n++;
    let text = a.slice(0, n);
    const bos = template.bos;
    if (bos && text.startsWith(bos) && this.host.addsBos()) text = text.slice(bos.length);
    return text;
  }
}
