/** A client load for rollout tests: `concurrency` loops per gateway sending completions until stopped, counting every outcome. */
export class ClientLoad {
  ok = 0;
  failed = 0;
  readonly failures: string[] = [];
  /** The slowest request seen, in ms (a swap without service shows as a long wait). */
  slowestMs = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly urls: string[],
    private readonly model: string,
    private readonly concurrency: number,
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.urls.flatMap((url) => Array.from({ length: this.concurrency }, () => this.loop(url)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(url: string): Promise<void> {
    while (this.running) {
      const started = performance.now();
      try {
        const response = await fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: this.model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 }),
        });
        const body = (await response.json()) as { choices?: Array<{ text: string }>; error?: { message: string } };
        if (response.status === 200 && typeof body.choices?.[0]?.text === "string") this.ok++;
        else {
          this.failed++;
          this.failures.push(`${url}: ${response.status} ${body.error?.message ?? JSON.stringify(body)}`);
        }
      } catch (error) {
        this.failed++;
        this.failures.push(`${url}: ${(error as Error).message}`);
      }
      this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
    }
  }
}

/** A metric's value in a Prometheus text page (the first sample matching the name and label text), or undefined. */
export function sampleValue(page: string, series: string): number | undefined {
  const line = page.split("\n").find((l) => l.startsWith(series));
  return line ? Number(line.slice(series.length).trim()) : undefined;
}
