import { z } from "zod";

/** `metrics`: what the gateway measures about itself and exposes at `GET /metrics`. */
export const metricsSection = z
  .object({
    /** Record request and resource metrics and serve `/metrics`. */
    enabled: z.boolean().default(true),
    /** Serve `/metrics` without the API key (for a Prometheus on a trusted network). */
    public: z.boolean().default(false),
    /** Seconds between resource samples (CPU, memory, pressure, power, runner RSS). */
    sample_interval_s: z.number().min(0.1).max(3600).default(5),
    /** Seconds over which rates (decode tokens/s) and quantiles (TTFT p95 for policies) are computed. */
    window_s: z.number().min(1).max(86_400).default(60),
  })
  .strict()
  .default({ enabled: true, public: false, sample_interval_s: 5, window_s: 60 });

export type MetricsConfig = z.infer<typeof metricsSection>;
