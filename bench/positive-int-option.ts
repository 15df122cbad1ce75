/** Benchmarks' numeric flags. */

/** The positive integer after `name` in process.argv (e.g. `--rounds 5`), else `fallback`; exits 2 on anything else. */
export function positiveIntOption(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`${name} must be a positive integer\n`);
    process.exit(2);
  }
  return value;
}
