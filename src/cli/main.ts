#!/usr/bin/env node
/** The `edgelm` command line: one file per command, registered here. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { reportCliError } from "./cli-kit.js";
import { registerAdd } from "./add.js";
import { registerConfig } from "./config-command.js";
import { registerEval } from "./eval.js";
import { registerExport } from "./export.js";
import { registerFederate } from "./federate.js";
import { registerFineTune } from "./finetune.js";
import { registerInspect } from "./inspect.js";
import { registerList } from "./list.js";
import { registerLora } from "./lora.js";
import { registerPull } from "./pull.js";
import { registerPush } from "./push.js";
import { registerQuantize } from "./quantize.js";
import { registerRm } from "./rm.js";
import { registerRun } from "./run.js";
import { registerServe } from "./serve.js";
import { registerSynth } from "./synth.js";
import { registerKeygen } from "./keygen.js";
import { registerSign } from "./sign.js";
import { registerVerify } from "./verify.js";
import { registerBench } from "./bench.js";
import { registerEngine } from "./engine.js";
import { registerAdmin } from "./admin.js";

const packageJson = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

// `edgelm list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const program = new Command("edgelm")
  .description("Run and serve small language models on edge hardware.")
  .version(packageJson.version, "-V, --version")
  .showHelpAfterError("(run with --help for usage)")
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "edgelm: ")) })
  .exitOverride();

registerRun(program);
registerInspect(program);
registerConfig(program);
registerPull(program);
registerPush(program);
registerAdd(program);
registerList(program);
registerRm(program);
registerExport(program);
registerSynth(program);
registerKeygen(program);
registerSign(program);
registerVerify(program);
registerQuantize(program);
registerEval(program);
registerFineTune(program);
registerFederate(program);
registerLora(program);
registerServe(program);
registerBench(program);
registerEngine(program);
registerAdmin(program);

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
