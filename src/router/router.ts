/**
 * The router: for a request to a routed model, decide local / peer / cloud,
 * redact before anything leaves the device, skip upstreams whose circuit
 * breaker is open, fall back when an upstream fails before its first token,
 * overflow to peers (then the cloud) when the local queue is full, and
 * escalate low-confidence local answers to the cloud.
 *
 * Chain per attempt: redact → breaker → upstream → restore.
 *
 * (Over 350 lines: the route decision and its fallbacks are one ordered policy —
 * local, overflow, escalation and failover each read and update the same
 * per-request attempt; the links themselves live in their own modules:
 * redactor.ts, circuit-breaker.ts, openai-upstream.ts, route-rules.ts.)
 */
import type { Config } from "../config/schema.js";
import type { RouteConfig } from "../config/sections/router.js";
import { PushTokenStream } from "../engine/token-stream.js";
import type { ChatMessage, GeneratedChunk, GenerateRequest, GenerationResult, TokenStream } from "../engine/types.js";
import { EdgeError, isEdgeError } from "../errors.js";
import { CircuitBreaker, type BreakerState } from "./circuit-breaker.js";
import { isUpstreamFailure, OpenAIUpstream } from "./openai-upstream.js";
import { redactorFromConfig, type Redactor, type RedactionSession } from "./redactor.js";
import { decideRoute, type RouteFacts, type RouteTarget } from "./route-rules.js";

/** How the router reaches the local model (the gateway's scheduler for it). */
export interface LocalTarget {
  generate(request: GenerateRequest, signal?: AbortSignal): Promise<TokenStream>;
  tokenize(text: string): Promise<number[]>;
  contextSize: number;
}

/** Local failures that send a request on to peers, then the cloud. */
const OVERFLOW_CODES: ReadonlySet<string> = new Set(["queue_full", "model_not_ready"]);

export interface RoutedResult {
  stream: TokenStream;
  route: RouteTarget;
  /** Upstream name for peer/cloud ("local" otherwise). */
  servedBy: string;
  reason: string;
  /** Personal data replaced before sending, by kind (never the values). */
  redacted?: Record<string, number>;
}

export interface RouteRequestContext {
  /** `x-edgelm-route` header value. */
  header?: string;
  /** The caller's API key is marked private (never leaves the device). */
  privateKey?: boolean;
  signal?: AbortSignal;
}

/** Share of default-local requests diverted elsewhere (set by policies, e.g. sustained CPU). */
export interface RouteWeights {
  peer: number;
  cloud: number;
}

interface Remote {
  upstream: OpenAIUpstream;
  breaker: CircuitBreaker;
  kind: "peer" | "cloud";
  redact: boolean;
  /** Where it is (up to and including /v1) and the key it is called with. */
  baseUrl: string;
  apiKey?: string | undefined;
}

/** A peer gateway as the fleet view asks it about itself. */
export interface PeerTarget {
  name: string;
  /** Up to and including /v1. */
  baseUrl: string;
  apiKey?: string;
  /** This gateway's circuit breaker for it. */
  breaker: BreakerState;
}

export interface RouterEvents {
  onBreakerChange?: (upstream: string, state: BreakerState) => void;
  onDecision?: (route: string, result: { route: RouteTarget; servedBy: string; reason: string }) => void;
}

export class Router {
  private readonly routes = new Map<string, RouteConfig>();
  private readonly peers: Remote[] = [];
  /** Peers found through DNS (router.peers_dns), replaced whenever the records change. */
  private discovered: Remote[] = [];
  private readonly cloud: Remote | undefined;
  private readonly redactor: Redactor;
  private weights: RouteWeights = { peer: 0, cloud: 0 };
  private readonly makeBreaker: (name: string) => CircuitBreaker;
  private nextPeer = 0;

  /**
   * @param random the source of load-shifting draws (default Math.random)
   * @param now the clock the circuit breakers read, in ms (default Date.now; tests pass a manual one)
   */
  constructor(
    private readonly config: Config["router"],
    private readonly events: RouterEvents = {},
    private readonly random: () => number = Math.random,
    now: () => number = Date.now,
  ) {
    for (const route of config.routes) this.routes.set(route.name, route);
    const breaker = (this.makeBreaker = (name: string): CircuitBreaker =>
      new CircuitBreaker({
        failureThreshold: config.breaker.failure_threshold,
        openMs: config.breaker.open_ms,
        now,
        onStateChange: (state) => events.onBreakerChange?.(name, state),
      }));
    for (const peer of config.peers) this.peers.push(this.peerRemote(peer.name, peer.base_url, peer));
    if (config.cloud) {
      this.cloud = {
        kind: "cloud",
        redact: config.cloud.redact,
        breaker: breaker("cloud"),
        baseUrl: config.cloud.base_url,
        upstream: new OpenAIUpstream({
          name: "cloud",
          baseUrl: config.cloud.base_url,
          ...(config.cloud.api_key ? { apiKey: config.cloud.api_key } : {}),
          model: config.cloud.model ?? "",
          timeoutMs: config.cloud.timeout_ms,
        }),
      };
    }
    this.redactor = redactorFromConfig(config.redaction);
  }

  /**
   * Replaces the DNS-discovered peers (configured peers stay). A peer still listed keeps its circuit breaker.
   * Settings come from router.peers_dns.
   */
  setDiscoveredPeers(peers: ReadonlyArray<{ name: string; baseUrl: string }>): void {
    const settings = this.config.peers_dns;
    if (!settings) return;
    const known = new Map(this.discovered.map((remote) => [remote.upstream.name, remote]));
    this.discovered = peers.map((peer) => known.get(peer.name) ?? this.peerRemote(peer.name, peer.baseUrl, settings));
  }

  /** A peer gateway upstream (marked as one hop, so the peer does not route it on). */
  private peerRemote(name: string, baseUrl: string, settings: { redact: boolean; api_key?: string | undefined; model?: string | undefined; timeout_ms: number }): Remote {
    return {
      kind: "peer",
      redact: settings.redact,
      breaker: this.makeBreaker(name),
      baseUrl,
      apiKey: settings.api_key,
      upstream: new OpenAIUpstream({
        name,
        baseUrl,
        ...(settings.api_key ? { apiKey: settings.api_key } : {}),
        model: settings.model ?? "",
        timeoutMs: settings.timeout_ms,
        headers: { "x-edgelm-hop": "1" },
      }),
    };
  }

  /** Names of the peers requests may go to now: configured ones, then DNS-discovered ones. */
  get peerNames(): string[] {
    return this.allPeers().map((remote) => remote.upstream.name);
  }

  private allPeers(): Remote[] {
    return this.discovered.length > 0 ? [...this.peers, ...this.discovered] : this.peers;
  }

  /** Names of the routed models clients may ask for. */
  get routeNames(): string[] {
    return [...this.routes.keys()];
  }

  route(name: string): RouteConfig | undefined {
    return this.routes.get(name);
  }

  /** Diverts a share of default-local requests to peers / the cloud (0–1 each). */
  setWeights(weights: Partial<RouteWeights>): void {
    const clamp = (x: number | undefined, fallback: number): number => Math.min(1, Math.max(0, x ?? fallback));
    this.weights = { peer: clamp(weights.peer, this.weights.peer), cloud: clamp(weights.cloud, this.weights.cloud) };
  }

  getWeights(): RouteWeights {
    return { ...this.weights };
  }

  /** Every peer requests may go to now, with its address, key and circuit breaker state. */
  peerTargets(): PeerTarget[] {
    return this.allPeers().map((remote) => ({
      name: remote.upstream.name,
      baseUrl: remote.baseUrl,
      ...(remote.apiKey ? { apiKey: remote.apiKey } : {}),
      breaker: remote.breaker.state,
    }));
  }

  /** Circuit breaker states by upstream name. */
  breakerStates(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const remote of [...this.allPeers(), ...(this.cloud ? [this.cloud] : [])]) out[remote.upstream.name] = remote.breaker.state;
    return out;
  }

  /** Whether a request must stay on the device (route or key marked private). */
  private isPrivate(route: RouteConfig, context: RouteRequestContext): boolean {
    return route.private || context.privateKey === true;
  }

  async generate(routeName: string, request: GenerateRequest, local: LocalTarget, context: RouteRequestContext = {}): Promise<RoutedResult> {
    const route = this.routes.get(routeName);
    if (!route) throw new EdgeError("model_not_found", `no routed model named "${routeName}"`, { param: "model" });
    const promptText = request.messages ? request.messages.map((m) => m.content).join("\n") : request.prompt ?? "";
    const promptTokens = (await local.tokenize(promptText)).length;
    const facts: RouteFacts = {
      promptText,
      promptTokens,
      neededTokens: promptTokens + (request.maxTokens !== undefined && request.maxTokens > 0 ? request.maxTokens : 0),
      localContextSize: local.contextSize,
      ...(context.header !== undefined ? { header: context.header } : {}),
    };
    let decision = decideRoute(route, facts);
    if (decision.target === "local" && decision.reason === "default") {
      const roll = this.random();
      if (roll < this.weights.peer && this.allPeers().length > 0) decision = { target: "peer", reason: "load shifted to peers by policy" };
      else if (roll < this.weights.peer + this.weights.cloud && this.cloud) decision = { target: "cloud", reason: "load shifted to the cloud by policy" };
    }
    const isPrivate = this.isPrivate(route, context);
    if (isPrivate && decision.target !== "local") decision = { target: "local", reason: `private (${decision.reason} ignored)` };

    const result = await this.execute(route, request, local, context, decision.target, decision.reason, isPrivate, facts);
    this.events.onDecision?.(routeName, { route: result.route, servedBy: result.servedBy, reason: result.reason });
    return result;
  }

  private remotesFor(target: "peer" | "cloud"): Remote[] {
    if (target === "cloud") return this.cloud ? [this.cloud] : [];
    // Rotate the starting peer so load spreads.
    const peers = this.allPeers();
    const start = this.nextPeer++ % Math.max(1, peers.length);
    return [...peers.slice(start), ...peers.slice(0, start)];
  }

  private async execute(
    route: RouteConfig,
    request: GenerateRequest,
    local: LocalTarget,
    context: RouteRequestContext,
    target: RouteTarget,
    reason: string,
    isPrivate: boolean,
    facts: RouteFacts,
  ): Promise<RoutedResult> {
    const failures: string[] = [];
    if (target === "local") {
      try {
        return await this.runLocal(route, request, local, context, reason, isPrivate);
      } catch (error) {
        // Overflow: the local queue is full, or the local model cannot serve right now (loading, restarting).
        if (!isEdgeError(error) || !OVERFLOW_CODES.has(error.code) || isPrivate) throw error;
        failures.push(error.code === "queue_full" ? "local queue full" : `local model not ready (${error.message})`);
        for (const kind of route.overflow) {
          const served = await this.tryRemotes(kind, request, context, failures);
          if (served) return { ...served, reason: `overflow: ${failures[0]}` };
        }
        throw error;
      }
    }
    const served = await this.tryRemotes(target, request, context, failures);
    if (served) return { ...served, reason };
    if (!route.fallback) {
      throw new EdgeError("upstream_unavailable", `route ${route.name}: ${failures.join("; ") || `no ${target} upstream is configured`}`);
    }
    // Fall back: local if the prompt fits there, else the other remote kind.
    if (facts.promptTokens < facts.localContextSize) {
      return this.runLocal(route, request, local, context, `fallback: ${failures.join("; ") || `no ${target}`}`, true);
    }
    const other = await this.tryRemotes(target === "cloud" ? "peer" : "cloud", request, context, failures);
    if (other) return { ...other, reason: `fallback: ${failures.join("; ")}` };
    throw new EdgeError("upstream_unavailable", `route ${route.name}: no route could serve the request (${failures.join("; ")})`);
  }

  /** Tries each upstream of a kind in turn; undefined when none could serve (reasons pushed to failures). */
  private async tryRemotes(kind: "peer" | "cloud", request: GenerateRequest, context: RouteRequestContext, failures: string[]): Promise<Omit<RoutedResult, "reason"> | undefined> {
    const remotes = this.remotesFor(kind);
    if (remotes.length === 0) failures.push(`no ${kind} upstream configured`);
    for (const remote of remotes) {
      if (!remote.breaker.tryAcquire()) {
        failures.push(`${remote.upstream.name} circuit open (retry in ${Math.ceil(remote.breaker.retryInMs / 1000)} s)`);
        continue;
      }
      const session = remote.redact ? this.redactor.session() : undefined;
      const outgoing = session ? redactRequest(request, session) : request;
      try {
        const stream = await remote.upstream.generate(outgoing, context.signal);
        remote.breaker.succeeded();
        return {
          stream: session ? restoringStream(stream, session) : stream,
          route: kind,
          servedBy: remote.upstream.name,
          ...(session && session.replacements > 0 ? { redacted: session.summary() } : {}),
        };
      } catch (error) {
        if (isUpstreamFailure(error)) {
          remote.breaker.failed();
          failures.push((error as EdgeError).message);
          continue;
        }
        remote.breaker.released();
        throw error;
      }
    }
    return undefined;
  }

  private async runLocal(
    route: RouteConfig,
    request: GenerateRequest,
    local: LocalTarget,
    context: RouteRequestContext,
    reason: string,
    noEscalation: boolean,
  ): Promise<RoutedResult> {
    const threshold = route.min_mean_logprob;
    if (threshold === undefined || noEscalation || !this.cloud) {
      return { stream: await local.generate(request, context.signal), route: "local", servedBy: "local", reason };
    }
    // Judge the local answer by its mean token log-probability before showing any of it.
    const wanted = request.logprobs ?? 0;
    const stream = await local.generate({ ...request, logprobs: Math.max(1, wanted) }, context.signal);
    const chunks: GeneratedChunk[] = [];
    let sum = 0;
    let count = 0;
    for await (const chunk of stream) {
      chunks.push(chunk);
      for (const entry of chunk.logprobs ?? []) {
        sum += entry.logprob;
        count++;
      }
    }
    const result = await stream.result;
    const mean = count > 0 ? sum / count : 0;
    if (count > 0 && mean < threshold) {
      const failures: string[] = [];
      const served = await this.tryRemotes("cloud", request, context, failures);
      if (served) return { ...served, reason: `low confidence: mean logprob ${mean.toFixed(2)} < ${threshold}` };
    }
    const replay = chunks.map((c) => (wanted > 0 ? c : withoutLogprobs(c)));
    return { stream: replayStream(replay, result), route: "local", servedBy: "local", reason: `${reason} (mean logprob ${mean.toFixed(2)})` };
  }
}

function withoutLogprobs(chunk: GeneratedChunk): GeneratedChunk {
  const { logprobs: _dropped, ...rest } = chunk;
  return rest;
}

function redactRequest(request: GenerateRequest, session: RedactionSession): GenerateRequest {
  return {
    ...request,
    ...(request.prompt !== undefined ? { prompt: session.redact(request.prompt) } : {}),
    ...(request.messages ? { messages: request.messages.map((m) => redactMessage(m, session)) } : {}),
  };
}

/** A message with its text and its calls' arguments redacted (placeholders keep JSON strings valid). */
function redactMessage(message: ChatMessage, session: RedactionSession): ChatMessage {
  const out: ChatMessage = { ...message, content: session.redact(message.content) };
  if (message.toolCalls) out.toolCalls = message.toolCalls.map((c) => ({ ...c, arguments: session.redact(c.arguments) }));
  return out;
}

/** Wraps an upstream stream so placeholders in its text are replaced by the original values. */
function restoringStream(source: TokenStream, session: RedactionSession): TokenStream {
  const restorer = session.streamRestorer();
  let cancel: (() => void) | undefined;
  const out = new PushTokenStream(() => cancel?.());
  void (async () => {
    const iterator = source[Symbol.asyncIterator]();
    cancel = () => void iterator.return?.();
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        const text = restorer.push(next.value.text);
        out.push({ ...next.value, text });
      }
      const tail = restorer.flush();
      if (tail) out.push({ text: tail, tokens: [] });
      const result = await source.result;
      const toolCalls = result.toolCalls?.map((c) => ({ ...c, arguments: session.restore(c.arguments) }));
      out.end({ ...result, text: session.restore(result.text), ...(toolCalls ? { toolCalls } : {}) });
    } catch (error) {
      out.fail(error);
    }
  })();
  return out;
}

function replayStream(chunks: GeneratedChunk[], result: GenerationResult): TokenStream {
  const out = new PushTokenStream();
  for (const chunk of chunks) out.push(chunk);
  out.end(result);
  return out;
}
