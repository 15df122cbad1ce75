/** `edgelm config check|show`: validate the configuration, print the effective one. */
import type { Command } from "commander";
import { stringify } from "yaml";
import { loadConfig } from "../config/load-config.js";
import { ENV_BINDINGS } from "../config/env.js";
import { action } from "./cli-kit.js";

export function registerConfig(program: Command): void {
  const config = program.command("config").description("check or show the configuration");
  config
    .command("check")
    .description("validate the config file, environment and defaults; print every invalid field with its path")
    .option("--config <file>", "config file to check")
    .action(
      action((flags: { config?: string }) => {
        const { source } = loadConfig(flags.config ? { configPath: flags.config } : {});
        process.stdout.write(`ok${source ? `: ${source}` : " (no config file; defaults and environment)"}\n`);
      }),
    );
  config
    .command("show")
    .description("print the effective configuration (file < environment < defaults applied)")
    .option("--config <file>", "config file")
    .option("--env", "list the EDGELM_* environment variables instead")
    .action(
      action((flags: { config?: string; env?: boolean }) => {
        if (flags.env) {
          // EDGELM_CONFIG names the file itself, so it is no binding to a field.
          process.stdout.write(`${"EDGELM_CONFIG".padEnd(22)} ${"(the config file)".padEnd(20)} the YAML file to read, after --config and before ./edgelm.yaml and $EDGELM_HOME/config.yaml\n`);
          for (const b of ENV_BINDINGS) process.stdout.write(`${b.name.padEnd(22)} ${b.path.join(".").padEnd(20)} ${b.description}\n`);
          return;
        }
        const { config: effective, source } = loadConfig(flags.config ? { configPath: flags.config } : {});
        const keys = effective.server.api_keys.length;
        const shown = {
          ...effective,
          server: { ...effective.server, api_keys: keys > 0 ? [`(${keys} keys hidden)`] : [] },
          store: { ...effective.store, ...(effective.store.hf_token ? { hf_token: "(hidden)" } : {}) },
        };
        process.stdout.write(`# ${source ?? "no config file"}\n${stringify(shown)}`);
      }),
    );
}
