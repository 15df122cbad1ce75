/**
 * The fleet view's knowledge of the peers: each peer gateway this one routes
 * to is asked about itself — `/ready` (its models, their states and, for a
 * followed tag, the digest served) and `/api/ps` (its runners' requests in
 * flight, with the peer's key) — at most every few seconds and within a short
 * timeout, so a dead peer makes the console slower by that timeout at most,
 * never hangs it. A peer that does not answer is "unreachable" with the reason.
 */
import type { PeerTarget } from "../router/router.js";

/** One peer as the fleet view shows it. */
export interface PeerReport {
  name: string;
  /** Its gateway's root (the base URL without /v1). */
  url: string;
  /** ready | not ready | unreachable */
  health: "ready" | "not ready" | "unreachable";
  /** Why it is not ready or unreachable. */
  detail?: string;
  /** This gateway's circuit breaker for it (closed = requests go there). */
  breaker: string;
  models: Array<{ name: string; state: string; digest?: string; version?: string }>;
  /** Requests its runners are generating, when /api/ps answered. */
  inFlight: number | null;
  /** Date.now() of the check. */
  checkedAt: number;
}

export interface FleetProbeOptions {
  peers: () => PeerTarget[];
  /** Per request, in ms. Default 2000. */
  timeoutMs?: number;
  /** How long an answer is reused, in ms. Default 3000. */
  maxAgeMs?: number;
}

/** The root of a peer's gateway from its base URL (which ends in /v1 by router.peers' convention). */
export function gatewayRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
}

export class FleetProbe {
  private last: { at: number; reports: PeerReport[] } | undefined;
  private running: Promise<PeerReport[]> | undefined;

  constructor(private readonly options: FleetProbeOptions) {}

  /** Every peer's report, fresh or at most maxAgeMs old. */
  async reports(): Promise<PeerReport[]> {
    const maxAge = this.options.maxAgeMs ?? 3000;
    if (this.last && Date.now() - this.last.at < maxAge) return this.last.reports;
    this.running ??= (async () => {
      try {
        const reports = await Promise.all(this.options.peers().map((peer) => this.check(peer)));
        this.last = { at: Date.now(), reports };
        return reports;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async check(peer: PeerTarget): Promise<PeerReport> {
    const url = gatewayRoot(peer.baseUrl);
    const base = { name: peer.name, url, breaker: peer.breaker, checkedAt: Date.now() };
    const timeoutMs = this.options.timeoutMs ?? 2000;
    const headers: Record<string, string> = peer.apiKey ? { authorization: `Bearer ${peer.apiKey}` } : {};
    let ready: { status?: string; models?: Array<{ name?: unknown; state?: unknown; reason?: unknown; rollout?: { digest?: unknown; version?: unknown } }> };
    let status: number;
    try {
      const response = await fetch(`${url}/ready`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      status = response.status;
      ready = (await response.json()) as typeof ready;
    } catch (error) {
      const why = (error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : ((error as Error & { cause?: Error }).cause?.message ?? (error as Error).message);
      return { ...base, health: "unreachable", detail: `${url}/ready: ${why}`, models: [], inFlight: null };
    }
    if (typeof ready !== "object" || ready === null || !Array.isArray(ready.models)) {
      return { ...base, health: "unreachable", detail: `${url}/ready answered ${status} without a model list: not an edgelm gateway?`, models: [], inFlight: null };
    }
    const models = ready.models.map((m) => ({
      name: String(m.name ?? "?"),
      state: String(m.state ?? "?") + (typeof m.reason === "string" ? `: ${m.reason}` : ""),
      ...(typeof m.rollout?.digest === "string" ? { digest: m.rollout.digest } : {}),
      ...(typeof m.rollout?.version === "string" ? { version: m.rollout.version } : {}),
    }));
    let inFlight: number | null = null;
    try {
      const response = await fetch(`${url}/api/ps`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      if (response.ok) {
        const ps = (await response.json()) as { models?: Array<{ edgelm?: { runners?: Array<{ in_flight?: unknown }> } }> };
        inFlight = (ps.models ?? []).reduce((sum, m) => sum + (m.edgelm?.runners ?? []).reduce((n, r) => n + (typeof r.in_flight === "number" ? r.in_flight : 0), 0), 0);
      }
    } catch {
      // load unknown; health comes from /ready
    }
    return { ...base, health: status === 200 ? "ready" : "not ready", ...(status === 200 ? {} : { detail: `/ready answered ${status}` }), models, inFlight };
  }
}
