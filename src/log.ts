/**
 * The process logger: one line per event on stderr. Levels error < warn < info < debug;
 * `EDGELM_LOG_LEVEL` (read once by the config loader and passed to setLogLevel) picks
 * the threshold, default "warn" for commands and "info" for the gateway.
 * With `setLogFormat("json")` every line is a JSON object (for log shippers).
 */
export type LogLevel = "error" | "warn" | "info" | "debug";
const order: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let threshold: LogLevel = "warn";
let format: "text" | "json" = "text";

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function setLogFormat(value: "text" | "json"): void {
  format = value;
}

export function isLogLevelEnabled(level: LogLevel): boolean {
  return order[level] <= order[threshold];
}

function write(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
  if (!isLogLevelEnabled(level)) return;
  if (format === "json") {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
    return;
  }
  const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
  process.stderr.write(`${level === "info" ? "" : `${level}: `}${message}${extra}\n`);
}

export const logger = {
  error: (message: string, fields?: Record<string, unknown>) => write("error", message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write("warn", message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write("info", message, fields),
  debug: (message: string, fields?: Record<string, unknown>) => write("debug", message, fields),
};
