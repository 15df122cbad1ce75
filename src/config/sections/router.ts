import { z } from "zod";
import { eventsSection } from "./router-events.js";

const upstream = z
  .object({
    /** Base URL up to and including /v1 of an OpenAI-compatible API. */
    base_url: z.string().url(),
    api_key: z.string().min(1).optional(),
    /** Model name the upstream knows (default: the routed model's name). */
    model: z.string().min(1).optional(),
    /** Milliseconds to wait for the first token and between tokens. */
    timeout_ms: z.number().int().min(100).default(15_000),
    /** Replace personal data before sending (restored in the answer). */
    redact: z.boolean().default(true),
  })
  .strict();

const peer = upstream.extend({ name: z.string().min(1) }).strict();

/**
 * Peers found through DNS: every A/AAAA record of `name` (a Kubernetes headless Service such as
 * `edgelm-peers.default.svc`) is a peer gateway at http://<address>:<port>/v1, re-resolved every
 * `interval_ms`. A string is the name alone.
 */
const peersDns = z.preprocess(
  (value) => (typeof value === "string" ? { name: value } : value),
  z
    .object({
      name: z.string().min(1),
      /** The peers' gateway port. */
      port: z.number().int().min(1).max(65535).default(11435),
      /** How often the name is resolved again, in ms. */
      interval_ms: z.number().int().min(1000).default(15_000),
      /** DNS servers as "ip" or "ip:port" (default: the system's, /etc/resolv.conf). */
      servers: z.array(z.string().min(1)).optional(),
      api_key: z.string().min(1).optional(),
      model: z.string().min(1).optional(),
      timeout_ms: z.number().int().min(100).default(15_000),
      redact: z.boolean().default(true),
    })
    .strict(),
);

/** One condition; a rule matches when all the conditions it names hold. */
const condition = z
  .object({
    /** The prompt is longer than this many tokens (by the local tokenizer). */
    prompt_tokens_over: z.number().int().min(0).optional(),
    /** The prompt (all messages) matches this regular expression (case-insensitive). */
    matches: z.string().min(1).optional(),
    /** Any of these words appears in the prompt (case-insensitive, whole words). */
    keywords: z.array(z.string().min(1)).min(1).optional(),
    /** The request asks for more context than the local model has. */
    exceeds_local_context: z.boolean().optional(),
    /** Request header `x-edgelm-route` has this value. */
    header: z.enum(["local", "peer", "cloud"]).optional(),
  })
  .strict();

const rule = z
  .object({
    when: condition,
    /** Where a matching request goes. */
    to: z.enum(["local", "peer", "cloud"]).default("cloud"),
    name: z.string().min(1).optional(),
  })
  .strict();

const route = z
  .object({
    /** The model name clients ask for (e.g. "auto" or "assistant"). */
    name: z.string().min(1),
    /** The served local model that answers by default. */
    local: z.string().min(1),
    /** Never send this route's requests off the device. */
    private: z.boolean().default(false),
    /** Rules in order; the first that matches decides. No match → local. */
    rules: z.array(rule).default([]),
    /** Escalate to the cloud when the local answer's mean token log-probability is below this. */
    min_mean_logprob: z.number().max(0).optional(),
    /** Where requests go when the local queue is full: peers first, then the cloud. */
    overflow: z.array(z.enum(["peer", "cloud"])).default(["peer", "cloud"]),
    /** Fall back to local (then peers) when the chosen upstream fails before the first token. */
    fallback: z.boolean().default(true),
  })
  .strict();

/** `router`: upstreams, routed models, redaction, circuit breakers and the event outbox. */
export const routerSection = z
  .object({
    cloud: upstream.optional(),
    peers: z.array(peer).default([]),
    peers_dns: peersDns.optional(),
    routes: z.array(route).default([]),
    breaker: z
      .object({
        failure_threshold: z.number().int().min(1).default(3),
        open_ms: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({ failure_threshold: 3, open_ms: 30_000 }),
    redaction: z
      .object({
        kinds: z.array(z.enum(["email", "phone", "card", "iban", "national_id", "ip"])).optional(),
        national_ids: z.array(z.object({ name: z.string().min(1), pattern: z.string().min(1) }).strict()).optional(),
      })
      .strict()
      .default({}),
    /** API keys whose requests never leave the device. */
    private_api_keys: z.array(z.string().min(1)).default([]),
    /** Where POST /v1/events forwards to, and the outbox's limits (see router-events.ts). */
    events: eventsSection.optional(),
  })
  .strict()
  .default({ peers: [], routes: [], breaker: { failure_threshold: 3, open_ms: 30_000 }, redaction: {}, private_api_keys: [] });

export type RouterConfig = z.infer<typeof routerSection>;
export type RouteConfig = z.infer<typeof route>;
export type PeersDnsConfig = z.infer<typeof peersDns>;
