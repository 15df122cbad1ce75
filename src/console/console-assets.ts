/**
 * The web console's static files: the hand-written page, stylesheet and browser
 * modules in `console/` at the package root (shipped in the npm package), read
 * once into memory with their content type and an ETag. Only the files found
 * there at start-up are served; no request names a path on disk.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeError } from "../errors.js";

/** console/ at the package root (this file is dist/src/console/ once built). */
export const CONSOLE_ASSETS_DIR = fileURLToPath(new URL("../../../console/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

export interface ConsoleAsset {
  /** File name, e.g. "playground.js". */
  name: string;
  type: string;
  body: Buffer;
  etag: string;
}

/** Every servable file in `dir` (default console/), by name; a missing index.html is an error naming the folder. */
export function loadConsoleAssets(dir: string = CONSOLE_ASSETS_DIR): Map<string, ConsoleAsset> {
  const assets = new Map<string, ConsoleAsset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new EdgeError("internal", `the web console's files are missing (${dir}); reinstall edgelm or set server.console: false`);
  }
  for (const name of names.sort()) {
    const type = TYPES[extname(name)];
    if (!type || !/^[a-z0-9][a-z0-9.-]*$/.test(name)) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { name, type, body, etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 32)}"` });
  }
  if (!assets.has("index.html")) throw new EdgeError("internal", `the web console's index.html is missing in ${dir}; reinstall edgelm or set server.console: false`);
  return assets;
}
