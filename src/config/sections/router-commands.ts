import { z } from "zod";
import { ed25519KeyFields, oneKeySource } from "./ed25519-key-entry.js";

/** Operations a command may ask for (each runs the admin API route of the same name). */
export const COMMAND_OPS = ["swap", "reload", "runners.add", "runners.remove", "routing.weights", "rollout.check", "rollout.rollback", "models"] as const;
export type CommandOp = (typeof COMMAND_OPS)[number];

/** A key commands may be signed with. */
const commandKey = oneKeySource(
  z
    .object({
      ...ed25519KeyFields,
      /** Operations this key may ask for. Default: every one. */
      ops: z.array(z.enum(COMMAND_OPS)).min(1).optional(),
    })
    .strict(),
);

/** A topic to subscribe to or publish on; `{gateway}` is filled in. */
const topic = z.string().min(1).max(1024);

/**
 * `router.events.commands`: admin operations sent down over MQTT, each signed
 * (Ed25519 over the command's canonical JSON) by one of `keys`; results go to
 * `reply_topic`. See docs/events.md.
 */
export const commandsSection = z
  .object({
    /** The MQTT sink (its `name`, default "mqtt") whose broker, credentials and TLS the subscription uses. Default: the only MQTT sink. */
    sink: z.string().min(1).optional(),
    /** Where commands arrive. Default "edgelm/{gateway}/commands". */
    topic: topic.default("edgelm/{gateway}/commands"),
    /** Where each command's result (or refusal) is published. Default "edgelm/{gateway}/commands/replies". */
    reply_topic: topic.refine((t) => !/[+#]/.test(t), "no MQTT wildcards (+, #) in a topic to publish to").default("edgelm/{gateway}/commands/replies"),
    keys: z.array(commandKey).min(1),
    /** Commands issued longer ago than this are refused as stale, in seconds. Default 60. */
    max_age_s: z.number().int().min(1).max(3600).default(60),
    /** Commands issued this far in the future (clock skew) are still taken, in seconds. Default 30. */
    max_skew_s: z.number().int().min(0).max(600).default(30),
    /** Largest command message, in bytes. Default 16 KiB. */
    max_bytes: z.number().int().min(256).max(1024 * 1024).default(16 * 1024),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    c.keys.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: "custom", message: `another key is already named "${k.id}"`, path: ["keys", i, "id"] });
      ids.add(k.id);
    });
  });

export type CommandsConfig = z.infer<typeof commandsSection>;
