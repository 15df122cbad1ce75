/** A clock that moves only when a test says so, for code that takes `now: () => number` (ms). */
export class ManualClock {
  private value: number;

  constructor(start = 1_000_000) {
    this.value = start;
  }

  /** The current time in ms; pass as `now` (bound). */
  readonly now = (): number => this.value;

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.value += ms;
  }
}
