import { z } from "zod";
import { ed25519KeyFields, oneKeySource } from "./ed25519-key-entry.js";

/** A participant the coordinator takes updates from: its key id and Ed25519 public key. */
const participantKey = oneKeySource(
  z
    .object({
      ...ed25519KeyFields,
    })
    .strict(),
);

/**
 * `server.federated.coordinator`: this gateway publishes federated fine-tuning rounds (POST /federated/rounds with
 * an admin key) and aggregates the signed weight deltas of the participants listed here. See docs/adaptation.md.
 */
export const coordinatorSection = z
  .object({
    /** Participants whose signed updates are taken (anyone else's is refused as unknown_key). */
    participants: z.array(participantKey).min(1),
    /** Largest update body, in bytes; a larger one is refused (413) before it is read. Default 64 MiB. */
    max_update_bytes: z.number().int().min(1024).max(4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
    /** Finished rounds kept for their status endpoint (oldest forgotten first). Default 32. */
    keep_rounds: z.number().int().min(1).max(1000).default(32),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    c.participants.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: "custom", message: `another participant is already named "${k.id}"`, path: ["participants", i, "id"] });
      ids.add(k.id);
    });
  });

/**
 * `server.federated`: federated rounds. `coordinator` makes this gateway publish and aggregate rounds; `participate`
 * makes it join the open rounds of `coordinator_url`, fine-tuning on `text` and sending back only a signed delta.
 */
export const federatedSection = z
  .object({
    coordinator: coordinatorSection.optional(),
    /** Join the coordinator's open rounds in the background. Default false. */
    participate: z.boolean().default(false),
    /** The coordinator gateway's base URL, e.g. http://10.0.0.2:11435. */
    coordinator_url: z.string().url().optional(),
    /** Bearer key sent to the coordinator (one of its server.api_keys, when it has any). */
    coordinator_key: z.string().min(1).optional(),
    /** This device's Ed25519 private key (PKCS#8 PEM, `edgelm keygen --curve ed25519`) updates are signed with. */
    key: z.string().min(1).optional(),
    /** The id the coordinator lists this device's public key under. */
    key_id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "1-64 of A-Z, a-z, 0-9, ., - and _").optional(),
    /** The local training text: a file, or a folder of .txt/.md/.text files. It never leaves the device. */
    text: z.string().min(1).optional(),
    /** How often the coordinator is asked for open rounds, in seconds. Default 10. */
    poll_s: z.number().min(0.1).max(3600).default(10),
    /** Trainer threads. Default: every core. */
    threads: z.number().int().min(1).max(1024).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (!f.participate) return;
    for (const field of ["coordinator_url", "key", "key_id", "text"] as const) {
      if (f[field] === undefined) ctx.addIssue({ code: "custom", message: `participate: true needs ${field}`, path: [field] });
    }
  });

export type FederatedConfig = z.infer<typeof federatedSection>;
export type CoordinatorConfig = z.infer<typeof coordinatorSection>;
