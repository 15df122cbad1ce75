/**
 * Notices a runner that stops answering: every `intervalMs` each ready runner
 * gets a health call, and one that has not answered within `deadlineMs` is
 * reported once to `onSilent` (the model pool kills and replaces it). A runner
 * that answers with an error, or exits, is not silent: only the missing answer
 * counts, so a runner busy with honest work is not killed while it still
 * answers. A process stopped (SIGSTOP), deadlocked, or spinning in native code
 * never answers.
 *
 *   const heartbeat = new RunnerHeartbeat({ intervalMs: 5000, deadlineMs: 15000, runners, onSilent });
 *   heartbeat.start(); ... heartbeat.stop();
 */
import type { Runner } from "../engine/runner.js";

export interface RunnerHeartbeatOptions {
  /** How often each runner is asked, in ms. */
  intervalMs: number;
  /** How long an answer may take before the runner counts as silent, in ms. */
  deadlineMs: number;
  /** The runners to watch now. */
  runners: () => Runner[];
  /** Called once per runner that missed the deadline, with how long it has been silent. */
  onSilent: (runner: Runner, silentMs: number) => void;
}

export class RunnerHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  /** Runners with a health call out (not asked again until it settles or they are reported). */
  private readonly asking = new Set<Runner>();
  private readonly reported = new WeakSet<Runner>();

  constructor(private readonly options: RunnerHeartbeatOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.beat(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private beat(): void {
    for (const runner of this.options.runners()) {
      if (runner.state !== "ready" || this.asking.has(runner) || this.reported.has(runner)) continue;
      this.asking.add(runner);
      const asked = performance.now();
      const deadline = setTimeout(() => {
        if (runner.state !== "ready" || this.reported.has(runner)) return;
        this.reported.add(runner);
        this.options.onSilent(runner, performance.now() - asked);
      }, this.options.deadlineMs);
      deadline.unref();
      // The call's own limit is past our deadline: a late answer or error after it changes nothing.
      runner
        .health(this.options.deadlineMs * 2)
        .catch(() => {})
        .finally(() => {
          clearTimeout(deadline);
          this.asking.delete(runner);
        });
    }
  }
}
