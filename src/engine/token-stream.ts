/**
 * A push-based TokenStream: a producer pushes chunks and finally ends it with a
 * result or an error; one consumer iterates. If the consumer stops early
 * (break, return, throw), `onCancel` runs so the producer stops generating.
 */
import type { GeneratedChunk, GenerationResult, TokenStream, Timings } from "./types.js";

export class PushTokenStream implements TokenStream {
  readonly result: Promise<GenerationResult>;
  private readonly chunks: GeneratedChunk[] = [];
  private waiting: (() => void) | undefined;
  private done = false;
  private failure: unknown;
  private resolveResult!: (value: GenerationResult) => void;
  private rejectResult!: (reason: unknown) => void;
  private iterated = false;

  constructor(private readonly onCancel: () => void = () => {}) {
    this.result = new Promise<GenerationResult>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // A consumer that only iterates must not see an unhandled rejection here.
    this.result.catch(() => {});
  }

  push(chunk: GeneratedChunk): void {
    if (this.done) return;
    this.chunks.push(chunk);
    this.wake();
  }

  end(result: GenerationResult): void {
    if (this.done) return;
    this.done = true;
    this.resolveResult(result);
    this.wake();
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.rejectResult(error);
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GeneratedChunk> {
    if (this.iterated) throw new Error("a TokenStream can be iterated only once");
    this.iterated = true;
    let finished = false;
    try {
      for (;;) {
        while (this.chunks.length > 0) yield this.chunks.shift()!;
        if (this.done) {
          finished = true;
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
    } finally {
      if (!finished) this.onCancel();
    }
  }
}

/** Builds a Timings record from raw measurements. */
export function makeTimings(input: {
  startedAt: number;
  firstTokenAt: number | undefined;
  promptDoneAt: number | undefined;
  endedAt: number;
  promptTokens: number;
  cachedPromptTokens: number;
  completionTokens: number;
}): Timings {
  const { startedAt, endedAt, promptTokens, cachedPromptTokens, completionTokens } = input;
  const firstTokenAt = input.firstTokenAt ?? endedAt;
  const promptDoneAt = input.promptDoneAt ?? firstTokenAt;
  const decodeMs = Math.max(0, endedAt - firstTokenAt);
  const promptMs = Math.max(0, promptDoneAt - startedAt);
  const evaluated = Math.max(0, promptTokens - cachedPromptTokens);
  return {
    timeToFirstTokenMs: round(firstTokenAt - startedAt),
    promptMs: round(promptMs),
    decodeMs: round(decodeMs),
    totalMs: round(endedAt - startedAt),
    promptTokens,
    cachedPromptTokens,
    completionTokens,
    perTokenMs: completionTokens > 1 ? round(decodeMs / (completionTokens - 1)) : 0,
    decodeTokensPerSecond: completionTokens > 1 && decodeMs > 0 ? round(((completionTokens - 1) * 1000) / decodeMs) : 0,
    promptTokensPerSecond: evaluated > 0 && promptMs > 0 ? round((evaluated * 1000) / promptMs) : 0,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
