/** edgelm's version, from package.json (this file is dist/src/version.js once built). */
import { readFileSync } from "node:fs";

export const EDGELM_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
