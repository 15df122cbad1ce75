/**
 * Bearer-key authentication and the admin right. Keys are compared as SHA-256
 * digests with a constant-time comparison, so response timing does not leak
 * key prefixes.
 *
 * Inference routes need an API key (or an admin key) when keys are set.
 * `/admin/*` needs an admin key when `server.admin_keys` is set: an API key
 * there is a 403. Without admin keys it is served to loopback clients only
 * (after the API-key check when API keys are set), so no key handed to a
 * device on the network ever carries the right to add runners or swap models.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { EdgeError } from "../errors.js";

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** Whether `path` is an admin route. */
export function isAdminPath(path: string): boolean {
  return path === "/admin" || path.startsWith("/admin/");
}

/** Whether a peer address is this machine's loopback (127.0.0.0/8, ::1, or IPv4-mapped 127.x). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return address === "::1";
}

/** Whether `offered` matches one of `digests`, comparing against every one (no early exit, so timing does not tell which). */
function matches(digests: readonly Buffer[], offered: Buffer): boolean {
  let ok = false;
  for (const known of digests) ok = timingSafeEqual(known, offered) || ok;
  return ok;
}

export class ApiKeyCheck {
  private readonly digests: Buffer[];
  private readonly adminDigests: Buffer[];

  constructor(keys: readonly string[], adminKeys: readonly string[] = []) {
    this.digests = keys.map(digest);
    this.adminDigests = adminKeys.map(digest);
  }

  /** True when keys are configured (every API route then needs one). */
  get enabled(): boolean {
    return this.digests.length > 0 || this.adminDigests.length > 0;
  }

  /** Throws unauthorized unless the Authorization header carries a configured key (an API key or an admin key). */
  check(authorization: string | undefined): void {
    if (this.digests.length === 0) return;
    const offered = this.offered(authorization);
    if (!matches(this.digests, offered) && !matches(this.adminDigests, offered)) throw new EdgeError("unauthorized", "the API key is not valid");
  }

  /**
   * The admin right for a request from `remoteAddress`: with admin keys, one of them (unauthorized without a valid
   * key, forbidden for an API key); without, a loopback client that passes {@link check}.
   */
  checkAdmin(authorization: string | undefined, remoteAddress: string | undefined): void {
    if (this.adminDigests.length === 0) {
      if (!isLoopbackAddress(remoteAddress)) {
        throw new EdgeError("forbidden", "the admin API answers loopback clients only; set server.admin_keys to administer this gateway from another machine");
      }
      this.check(authorization);
      return;
    }
    const offered = this.offered(authorization);
    if (matches(this.adminDigests, offered)) return;
    if (matches(this.digests, offered)) throw new EdgeError("forbidden", "this API key may not call the admin API; use one of server.admin_keys");
    throw new EdgeError("unauthorized", "the API key is not valid");
  }

  private offered(authorization: string | undefined): Buffer {
    const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
    if (!match) {
      throw new EdgeError("unauthorized", "an API key is required: send the header Authorization: Bearer <key>");
    }
    return digest(match[1]!.trim());
  }
}
