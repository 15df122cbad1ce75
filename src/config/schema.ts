/**
 * The one configuration schema: file, environment and flags all land here.
 * Each area of edgelm owns a section in ./sections; defaults live in the schema.
 */
import { z } from "zod";
import { engineSection } from "./sections/engine.js";
import { metricsSection } from "./sections/metrics.js";
import { policiesSection } from "./sections/policies.js";
import { routerSection } from "./sections/router.js";
import { serverSection } from "./sections/server.js";
import { storeSection } from "./sections/store.js";
import { trustSection } from "./sections/trust.js";

export const configSchema = z
  .object({
    /** Where models, manifests, caches and built engines live. */
    home: z.string().min(1).optional(),
    log_level: z.enum(["error", "warn", "info", "debug"]).optional(),
    log_format: z.enum(["text", "json"]).default("text"),
    /** Base URL of the Hugging Face hub or a mirror of it. */
    hf_endpoint: z.string().url().default("https://huggingface.co"),
    /** Root under which /sys is read for power sensors (tests point it elsewhere). */
    sysfs_root: z.string().default("/sys"),
    engine: engineSection,
    server: serverSection,
    router: routerSection,
    store: storeSection,
    trust: trustSection,
    metrics: metricsSection,
    policies: policiesSection,
  })
  .strict();

/** The validated configuration (defaults applied). */
export type Config = z.infer<typeof configSchema> & { home: string };
/** What a file, the environment or flags may say (everything optional). */
export type ConfigInput = z.input<typeof configSchema>;
