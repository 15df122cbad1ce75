#!/usr/bin/env node
/** The `edgelm` command line: one file per command, registered here. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { reportCliError } from "./cli-kit.js";
import { registerConfig } from "./config-command.js";
import { registerInspect } from "./inspect.js";
import { registerRun } from "./run.js";
import { registerBench } from "./bench.js";
import { registerEngine } from "./engine.js";

const packageJson = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command("edgelm")
  .description("Run and serve small language models on edge hardware.")
  .version(packageJson.version, "-V, --version")
  .showHelpAfterError("(run with --help for usage)")
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "edgelm: ")) })
  .exitOverride();

registerRun(program);
registerInspect(program);
registerConfig(program);
registerBench(program);
registerEngine(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportCliError(error);
  }
}
