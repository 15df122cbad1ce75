/**
 * Finds stop strings in streamed text. Text that could still turn into a stop
 * string is held back until it is decided, so a client never sees part of a
 * stop string; text before a stop string is released, the rest dropped.
 */
export class StopMatcher {
  private held = "";
  private readonly stops: string[];

  constructor(stops: readonly string[] = []) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /**
   * Adds generated text. Returns the text now safe to emit and, if a stop string
   * completed, which one (generation must end; nothing after it is emitted).
   */
  push(text: string): { emit: string; stop?: string } {
    if (this.stops.length === 0) return { emit: text };
    this.held += text;
    let first = -1;
    let which: string | undefined;
    for (const stop of this.stops) {
      const at = this.held.indexOf(stop);
      if (at !== -1 && (first === -1 || at < first)) {
        first = at;
        which = stop;
      }
    }
    if (which !== undefined) {
      const emit = this.held.slice(0, first);
      this.held = "";
      return { emit, stop: which };
    }
    const keep = this.longestPartialSuffix();
    const emit = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return { emit };
  }

  /** Releases held text at the end of generation (no stop string completed). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  /** Length of the longest suffix of the held text that is a proper prefix of some stop string. */
  private longestPartialSuffix(): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, this.held.length);
      for (let n = max; n > best; n--) {
        if (this.held.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
