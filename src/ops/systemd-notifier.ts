/**
 * The sd_notify protocol, for `Type=notify` units: newline-separated
 * `KEY=VALUE` assignments in one datagram to the AF_UNIX socket named by
 * `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
 *
 * Node has no AF_UNIX datagram sockets, so the datagram is sent by systemd's
 * own `systemd-notify` (present wherever systemd sets NOTIFY_SOCKET): we build
 * and check the message, it sends it and waits until the manager has processed
 * it (its barrier), so the notification cannot be lost to a sender that exited
 * first. Because the sender is a child, the unit needs `NotifyAccess=all`.
 */
import { execFile } from "node:child_process";
import { logger } from "../log.js";

export interface SystemdNotifierOptions {
  /** `$NOTIFY_SOCKET`. */
  socket: string;
  /** `$WATCHDOG_USEC`: the watchdog interval in microseconds, when the unit sets WatchdogSec=. */
  watchdogUsec?: number;
  /** The sender program. Default "systemd-notify". */
  sender?: string;
  /** How long one send may take, in ms, before it is abandoned. Default 5000. */
  sendTimeoutMs?: number;
}

/** One notification: `READY: "1"`, `STATUS: "..."`. Keys are upper-case; values are one line. */
export type NotifyFields = Record<string, string | number>;

/** Encodes `fields` as the datagram's text; throws on a key or value the protocol cannot carry. */
export function encodeNotification(fields: NotifyFields): string {
  const lines: string[] = [];
  for (const [key, raw] of Object.entries(fields)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`sd_notify key ${JSON.stringify(key)} is not an upper-case name`);
    // A newline would start a new assignment: status texts are flattened to one line.
    lines.push(`${key}=${String(raw).replace(/[\r\n]+/g, " ")}`);
  }
  return `${lines.join("\n")}\n`;
}

export class SystemdNotifier {
  private watchdog: NodeJS.Timeout | undefined;
  private pinging = false;
  private warned = false;

  constructor(private readonly options: SystemdNotifierOptions) {}

  /**
   * A notifier when the process runs under a manager that asked for
   * notifications (`NOTIFY_SOCKET` set), else undefined. `WATCHDOG_USEC` counts
   * only when `WATCHDOG_PID` is absent or ours.
   */
  static fromEnvironment(env: NodeJS.ProcessEnv, pid = process.pid): SystemdNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    return new SystemdNotifier({ socket, ...(forUs && Number.isFinite(usec) && usec > 0 ? { watchdogUsec: usec } : {}) });
  }

  /** Milliseconds between watchdog pings (half the manager's interval), when there is a watchdog. */
  get watchdogIntervalMs(): number | undefined {
    return this.options.watchdogUsec ? Math.max(1, Math.floor(this.options.watchdogUsec / 2000)) : undefined;
  }

  /** Sends `fields`; resolves true once the manager took it, false when it could not be sent (logged once). */
  notify(fields: NotifyFields): Promise<boolean> {
    const message = encodeNotification(fields);
    const assignments = message.trimEnd().split("\n");
    return new Promise((resolve) => {
      execFile(
        this.options.sender ?? "systemd-notify",
        assignments,
        { env: { NOTIFY_SOCKET: this.options.socket, PATH: "/usr/bin:/bin" }, timeout: this.options.sendTimeoutMs ?? 5000, killSignal: "SIGKILL" },
        (error, _stdout, stderr) => {
          if (!error) return resolve(true);
          if (!this.warned) {
            this.warned = true;
            logger.warn(`systemd notification (${assignments[0]}) to ${this.options.socket} failed: ${`${stderr}`.trim() || error.message}`);
          }
          resolve(false);
        },
      );
    });
  }

  /** READY=1 (the unit counts as started), with a status line. */
  ready(status: string): Promise<boolean> {
    return this.notify({ READY: 1, STATUS: status, MAINPID: process.pid });
  }

  /** STOPPING=1 (the stop has begun), with a status line. */
  stopping(status: string): Promise<boolean> {
    this.stopWatchdog();
    return this.notify({ STOPPING: 1, STATUS: status });
  }

  /** STATUS=... alone. */
  status(status: string): Promise<boolean> {
    return this.notify({ STATUS: status });
  }

  /**
   * Pings WATCHDOG=1 every half interval while `healthy()` says so (default:
   * always — the event loop turning is the signal). A no-op without a watchdog.
   */
  startWatchdog(healthy: () => boolean = () => true): void {
    const interval = this.watchdogIntervalMs;
    if (interval === undefined || this.watchdog) return;
    this.watchdog = setInterval(() => {
      if (this.pinging || !healthy()) return;
      this.pinging = true;
      void this.notify({ WATCHDOG: 1 }).finally(() => (this.pinging = false));
    }, interval);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
