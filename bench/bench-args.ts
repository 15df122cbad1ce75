/** What the benchmarks share: options from argv and the default test model (statistics: bench-stats.ts). */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The model benchmarks use unless told otherwise: EDGELM_TEST_MODEL, else stories260K beside the repository. */
export const BENCH_TEST_MODEL = process.env.EDGELM_TEST_MODEL ?? resolve(fileURLToPath(new URL("../../", import.meta.url)), "../shared/models/stories260K.gguf");

/** `--json FILE` from the command line: where to write the results as JSON, if asked. */
export function jsonOutOption(): string | undefined {
  const at = process.argv.indexOf("--json");
  return at > 0 ? process.argv[at + 1] : undefined;
}

/** `--name N` from the command line (a positive integer), else `fallback`; anything else exits with code 2. */
export function integerOption(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`${name} must be a positive integer\n`);
    process.exit(2);
  }
  return value;
}

