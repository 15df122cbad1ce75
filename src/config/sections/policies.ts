import { z } from "zod";

/** Signals a rule can watch (see docs/policies.md for units and sources). */
export const POLICY_SIGNALS = [
  "cpu_percent",
  "process_cpu_percent",
  "memory_used_percent",
  "memory_pressure_percent",
  "power_watts",
  "ttft_p95_ms",
  "queue_waiting",
  "decode_tokens_per_second",
] as const;
export type PolicySignal = (typeof POLICY_SIGNALS)[number];

/** What a rule can do; a rule lists alternatives and the first one that applies runs. */
export const POLICY_ACTIONS = [
  "alert",
  "add_runner",
  "remove_runner",
  "shift_to_peer",
  "swap_lower_precision",
  "lower_parallelism",
] as const;
export type PolicyActionName = (typeof POLICY_ACTIONS)[number];

export const policyRule = z
  .object({
    /** Unique name; also the alert name (`edgelm_<name>`) and a metric label. */
    name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower-case letters, digits and _ (starting with a letter)"),
    metric: z.enum(POLICY_SIGNALS),
    op: z.enum([">", ">=", "<", "<="]).default(">"),
    threshold: z.number(),
    /** Seconds the condition must hold before the rule fires. */
    for_s: z.number().min(0).default(0),
    /**
     * How far back past the threshold the value must go before a firing rule
     * clears (in the metric's unit), so a value hovering at the threshold does not flap.
     */
    hysteresis: z.number().min(0).default(0),
    /** Seconds after an action during which the rule takes no other action. */
    cooldown_s: z.number().min(0).default(300),
    /** Alternatives in order: the first one that applies runs (e.g. add_runner, else shift_to_peer). */
    actions: z.array(z.enum(POLICY_ACTIONS)).min(1),
    severity: z.enum(["info", "warning", "critical"]).default("warning"),
    /** One line for alerts and logs; default: the condition in words. */
    summary: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();

export type PolicyRule = z.infer<typeof policyRule>;

/** The seed's rules: the defaults when the config file names no rules. */
export const DEFAULT_POLICY_RULES: PolicyRule[] = [
  {
    name: "cpu_high",
    metric: "cpu_percent",
    op: ">",
    threshold: 85,
    for_s: 60,
    hysteresis: 10,
    cooldown_s: 300,
    actions: ["add_runner", "shift_to_peer", "alert"],
    severity: "warning",
    enabled: true,
  },
  {
    name: "memory_high",
    metric: "memory_used_percent",
    op: ">",
    threshold: 90,
    for_s: 10,
    hysteresis: 5,
    cooldown_s: 300,
    actions: ["swap_lower_precision", "alert"],
    severity: "critical",
    enabled: true,
  },
  {
    name: "ttft_slow",
    metric: "ttft_p95_ms",
    op: ">",
    threshold: 200,
    for_s: 60,
    hysteresis: 20,
    cooldown_s: 600,
    actions: ["alert"],
    severity: "warning",
    enabled: true,
  },
  {
    name: "power_high",
    metric: "power_watts",
    op: ">",
    threshold: 5,
    for_s: 60,
    hysteresis: 0.5,
    cooldown_s: 300,
    actions: ["lower_parallelism", "swap_lower_precision", "alert"],
    severity: "warning",
    enabled: true,
  },
];

const alertsSection = z
  .object({
    /** Alertmanager base URLs (e.g. http://127.0.0.1:9093); alerts go to `<url>/api/v2/alerts`. */
    alertmanager: z.array(z.string().url()).default([]),
    /** Generic JSON webhooks: each alert (firing or resolved) is POSTed as one JSON object. */
    webhooks: z
      .array(
        z
          .object({
            url: z.string().url(),
            headers: z.record(z.string(), z.string()).optional(),
          })
          .strict(),
      )
      .default([]),
    /** Seconds between re-sends of a firing alert (Alertmanager resolves alerts it stops hearing about). */
    resend_s: z.number().min(1).default(60),
    /** Per-delivery timeout in milliseconds. */
    timeout_ms: z.number().int().min(100).default(5000),
  })
  .strict()
  .default({ alertmanager: [], webhooks: [], resend_s: 60, timeout_ms: 5000 });

/** `policies`: rules that watch signals and act through the gateway's operations. */
export const policiesSection = z
  .object({
    enabled: z.boolean().default(true),
    /** Log and count what would be done, but do nothing. */
    dry_run: z.boolean().default(false),
    /** Seconds between rule evaluations. */
    interval_s: z.number().min(0.1).max(3600).default(5),
    rules: z
      .array(policyRule)
      .default(DEFAULT_POLICY_RULES)
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((rule, index) => {
          if (seen.has(rule.name)) ctx.addIssue({ code: "custom", path: [index, "name"], message: `duplicate rule name "${rule.name}"` });
          seen.add(rule.name);
        });
      }),
    /** Share of new default-local requests shift_to_peer sends to peers (0–1). */
    peer_share: z.number().min(0).max(1).default(0.5),
    /** Memory (percent of total) an added runner or a loaded variant must leave free. */
    memory_reserve_percent: z.number().min(0).max(90).default(10),
    alerts: alertsSection,
  })
  .strict()
  .default({
    enabled: true,
    dry_run: false,
    interval_s: 5,
    rules: DEFAULT_POLICY_RULES,
    peer_share: 0.5,
    memory_reserve_percent: 10,
    alerts: { alertmanager: [], webhooks: [], resend_s: 60, timeout_ms: 5000 },
  });

export type PoliciesConfig = z.infer<typeof policiesSection>;
