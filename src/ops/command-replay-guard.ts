/**
 * Remembers the ids of commands taken until they would be stale anyway, so a
 * captured command cannot be sent again — also after a restart: the ids are
 * kept in a small file (written atomically before the command runs).
 */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../atomic-write.js";

export class CommandReplayGuard {
  /** Command id → when it may be forgotten (ms since the epoch). */
  private readonly seen = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();

  /** `file`: where the ids persist; `keepMs`: how long past its issue time an id is kept (max age + skew). */
  constructor(
    private readonly file: string,
    private readonly keepMs: number,
  ) {
    try {
      const saved = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
      for (const [id, until] of Object.entries(saved)) if (typeof until === "number") this.seen.set(id, until);
    } catch {
      // no file yet (or unreadable: start empty; stale commands are refused anyway)
    }
  }

  /** True when `id` was taken before (and is not forgotten yet). */
  has(id: string, now: number): boolean {
    const until = this.seen.get(id);
    return until !== undefined && until > now;
  }

  /** Records `id` (issued at `issuedAt`) and persists the set; resolves once it is on disk. */
  async record(id: string, issuedAt: number, now: number): Promise<void> {
    for (const [known, until] of this.seen) if (until <= now) this.seen.delete(known);
    this.seen.set(id, Math.max(now, issuedAt) + this.keepMs);
    const text = JSON.stringify(Object.fromEntries(this.seen));
    this.writing = this.writing.catch(() => {}).then(() => writeFileAtomic(this.file, text, 0o600));
    await this.writing;
  }
}
