/**
 * Bearer-key authentication. Keys are compared as SHA-256 digests with a
 * constant-time comparison, so response timing does not leak key prefixes.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { EdgeError } from "../errors.js";

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

export class ApiKeyCheck {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** True when keys are configured (every API route then needs one). */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Throws unauthorized unless the Authorization header carries a configured key. */
  check(authorization: string | undefined): void {
    if (!this.enabled) return;
    const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
    if (!match) {
      throw new EdgeError("unauthorized", "an API key is required: send the header Authorization: Bearer <key>");
    }
    const offered = digest(match[1]!.trim());
    let ok = false;
    // Compare against every key (no early exit) so timing does not tell which one matched.
    for (const known of this.digests) ok = timingSafeEqual(known, offered) || ok;
    if (!ok) throw new EdgeError("unauthorized", "the API key is not valid");
  }
}
