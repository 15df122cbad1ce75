/** Reads a /proc (or /sys) file as text; undefined when it does not exist here (another OS, a gone process). */
import { readFileSync } from "node:fs";

export function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
