/**
 * When an idle model unloads: a default (null = never, e.g. configured models;
 * a duration for on-demand ones), overridden by the latest request's
 * keep_alive until another request sets its own. `idle()` arms the timer when
 * the model's last request ends; `cancel()` disarms it when one arrives.
 */
export class KeepAlive {
  private current: number | null;
  private timer: NodeJS.Timeout | undefined;
  private idleSince = 0;

  /**
   * @param fallback ms an idle model stays loaded (null = until unloaded by an operation).
   * @param expire called when that time has passed with no request.
   */
  constructor(
    private readonly fallback: number | null,
    private readonly expire: () => void,
  ) {
    this.current = fallback;
  }

  /** The latest request's keep-alive in ms (null = forever, undefined = the default). */
  set(ms: number | null | undefined): void {
    this.current = ms === undefined ? this.fallback : ms;
  }

  /** The model has no request left: unload after the keep-alive (at once for 0). */
  idle(): void {
    this.cancel();
    this.idleSince = Date.now();
    const ms = this.current;
    if (ms === null) return;
    if (ms === 0) {
      this.expire();
      return;
    }
    // setTimeout holds at most 2^31-1 ms (~24.8 days); longer keep-alives re-arm.
    const wait = Math.min(ms, 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (wait < ms) {
        this.current = ms - wait;
        this.idle();
      } else this.expire();
    }, wait);
    this.timer.unref();
  }

  /** A request arrived (or the model is closing): no unload pending. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** When an idle model unloads: from when it went idle, or from now while it is busy; null when it stays. */
  expiresAt(idle: boolean): Date | null {
    if (this.current === null) return null;
    return new Date((idle ? this.idleSince || Date.now() : Date.now()) + this.current);
  }
}

/** Ollama's keep_alive: a number of seconds, or a duration such as "5m", "1h30m", "300ms", "-1" / negative = forever. */
export function parseKeepAlive(value: string | number | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    return value < 0 ? null : Math.round(value * 1000);
  }
  const text = value.trim();
  if (text.length === 0) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(text)) return parseKeepAlive(Number(text));
  if (text.startsWith("-")) return null;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!match) return Number.NaN;
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}
