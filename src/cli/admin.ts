/**
 * `edgelm admin ...`: operate a running gateway by hand — the same operations
 * its policies use (swap a model's variant, add or remove a runner, shift load
 * to peers, fire an alert) — and read what the policies decided.
 */
import type { Command } from "commander";
import type { Config } from "../config/schema.js";
import { AdminClient } from "../ops/admin-client.js";
import type { AdminAnswers } from "../ops/admin-contract.js";
import type { PolicyStatus } from "../ops/policy-engine.js";
import { action, collect, commandConfig, integerFlag, numberFlag, usageError } from "./cli-kit.js";
import { formatTable } from "./format.js";

interface AdminFlags {
  url?: string;
  adminKey?: string;
  apiKey?: string;
  timeout?: number;
  json?: boolean;
  config?: string;
}

/** The gateway this machine's config describes: server.host:server.port (a wildcard bind is reached on loopback). */
function defaultUrl(config: Config): string {
  const host = config.server.host;
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `http://${reachable}:${config.server.port}`;
}

function client(flags: AdminFlags): AdminClient {
  const config = commandConfig(flags);
  // An admin key when the gateway has them (EDGELM_ADMIN_KEYS / server.admin_keys), else an API key.
  const apiKey = flags.adminKey ?? flags.apiKey ?? config.server.admin_keys[0] ?? config.server.api_keys[0];
  return new AdminClient({
    url: flags.url ?? defaultUrl(config),
    ...(apiKey ? { apiKey } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
  });
}

function print(flags: AdminFlags, data: unknown, text: () => string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** How long a subcommand waits for the gateway by default, in seconds, and why. */
const QUICK = { seconds: 30, why: "the gateway answers at once" };
const LOADS = { seconds: 600, why: "it loads a model" };
const DRAINS = { seconds: 600, why: "it waits for the runner's requests to finish" };

function common(command: Command, timeout: { seconds: number; why: string } = QUICK): Command {
  return command
    .option("--url <url>", "the gateway's base URL (default: http://<server.host>:<server.port> from the config)")
    .option("--admin-key <key>", "the gateway's admin key (default: the first of server.admin_keys / EDGELM_ADMIN_KEYS, else of server.api_keys / EDGELM_API_KEYS)")
    .option("--api-key <key>", "the same as --admin-key (for a gateway without admin keys: an API key, from loopback)")
    .option("--timeout <seconds>", `give up after this many seconds (${timeout.why})`, integerFlag("--timeout", { min: 1, max: 86_400 }), timeout.seconds)
    .option("--json", "print the gateway's JSON answer")
    .option("--config <file>", "config file");
}

function parseLabels(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
    if (!match) throw usageError(`--label must be name=value with a label name of letters, digits and _ (got "${value}")`, "--label");
    labels[match[1]!] = match[2]!;
  }
  return labels;
}

export function describePolicies(status: PolicyStatus): string {
  const lines = [`policies ${status.enabled ? "enabled" : "disabled"}${status.dryRun ? " (dry run)" : ""}, evaluated every ${status.intervalSeconds}s`];
  const signals = Object.entries(status.signals).map(([k, v]) => `${k}=${Number(v.toFixed(2))}`);
  lines.push(`signals: ${signals.join("  ") || "(none yet)"}`);
  const rows = [["RULE", "STATE", "VALUE", "CONDITION", "LAST ACTION", "COOLDOWN UNTIL"]];
  for (const r of status.rules) {
    const last = r.lastAction ? `${r.lastAction.outcome}${r.lastAction.action ? ` ${r.lastAction.action}` : ""} at ${r.lastAction.at}` : "-";
    rows.push([
      r.rule.name,
      r.state,
      r.value === null ? "-" : String(Number(r.value.toFixed(2))),
      `${r.rule.metric} ${r.rule.op} ${r.rule.threshold}${r.rule.for_s ? ` for ${r.rule.for_s}s` : ""}`,
      last,
      r.cooldownUntil ?? "-",
    ]);
  }
  lines.push(...formatTable(rows, ""));
  const recent = status.decisions.slice(-10);
  if (recent.length > 0) {
    lines.push("recent decisions:");
    for (const d of recent) lines.push(`  ${d.at}  ${d.rule}  ${d.outcome}${d.action ? ` ${d.action}` : ""}: ${d.detail}`);
  }
  return lines.join("\n");
}

function describeRollouts(models: AdminAnswers["rollout"]["models"]): string {
  if (models.length === 0) return "no served model follows a registry tag";
  return models
    .map((m) => {
      const lines = [`${m.model}  ${m.state}  ${m.version}  ${m.digest}`, `  follows ${m.follow}${m.polls !== m.follow ? ` (polls ${m.polls})` : ""}${m.group ? `, group ${m.group}` : ""}`];
      if (m.previous) lines.push(`  previous ${m.previous.version} ${m.previous.digest} (edgelm admin rollback ${m.model})`);
      if (m.reason) lines.push(`  ${m.reason}`);
      for (const r of m.refused) lines.push(`  refused ${r.digest} at ${r.at}: ${r.reason}`);
      if (m.lastCheckAt) lines.push(`  last checked ${m.lastCheckAt}`);
      return lines.join("\n");
    })
    .join("\n");
}

export function registerAdmin(program: Command): void {
  const admin = program.command("admin").description("operate a running gateway: swap variants, add/remove runners, shift load, alerts, policy state, rollouts");

  common(admin.command("policies").description("show the policy rules' state and recent decisions (GET /admin/policies)")).action(
    action(async (flags: AdminFlags) => {
      const status = await client(flags).policies();
      print(flags, status, () => describePolicies(status));
    }),
  );

  common(admin.command("models").description("show served models with their runners (GET /admin/models)")).action(
    action(async (flags: AdminFlags) => {
      const result = await client(flags).models();
      print(flags, result, () =>
        result.models
          .map((m) => {
            const runners = (m.runners as Array<{ id: string; pid?: number; inFlight: number; draining: boolean; ref: string }>) ?? [];
            const head = `${String(m.name)}  ${String(m.state)}  ${String(m.quantization ?? "")}  ${String(m.ref)}  parallel ${String(m.parallel)}`;
            return [head, ...runners.map((r) => `  runner ${r.id} pid ${r.pid ?? "-"} in flight ${r.inFlight}${r.draining ? " (draining)" : ""}  ${r.ref}`)].join("\n");
          })
          .join("\n"),
      );
    }),
  );

  common(
    admin
      .command("swap")
      .description("serve <model> from another variant with zero downtime (POST /admin/swap)")
      .argument("<model>", "the served model's name")
      .argument("[to]", "a model reference, or the precision of a stored variant (e.g. q4_0)")
      .option("--parallel <n>", "also change the parallel sequences per runner", integerFlag("--parallel", { min: 1, max: 256 }))
      .option("--mode <mode>", "overlap (load the new runner first; default) or drain-first (when both do not fit in memory)"),
    LOADS,
  ).action(
    action(async (model: string, to: string | undefined, flags: AdminFlags & { parallel?: number; mode?: string }) => {
      if (to === undefined && flags.parallel === undefined) throw usageError("say what to swap to: a variant (e.g. q4_0), a model reference, or --parallel", "to");
      if (flags.mode !== undefined && flags.mode !== "overlap" && flags.mode !== "drain-first") {
        throw usageError(`--mode must be overlap or drain-first (got "${flags.mode}")`, "--mode");
      }
      const result = await client(flags).swap({
        model,
        ...(to !== undefined ? { to } : {}),
        ...(flags.parallel !== undefined ? { parallel: flags.parallel } : {}),
        ...(flags.mode !== undefined ? { mode: flags.mode as "overlap" | "drain-first" } : {}),
      });
      print(flags, result, () => `${model}: ${result.from} → ${result.to}`);
    }),
  );

  common(admin.command("add-runner").description("start one more runner process for <model> (POST /admin/runners/add)").argument("<model>", "the served model's name"), LOADS).action(
    action(async (model: string, flags: AdminFlags) => {
      const result = await client(flags).addRunner(model);
      const runners = (result.model.runners as unknown[] | undefined)?.length ?? "?";
      print(flags, result, () => `${model}: started runner ${String(result.runner.id)} (pid ${String(result.runner.pid ?? "-")}); ${runners} runners`);
    }),
  );

  common(
    admin
      .command("remove-runner")
      .description("drain and stop one runner of <model> (POST /admin/runners/remove)")
      .argument("<model>", "the served model's name")
      .argument("[runner]", "the runner id (default: the least busy)"),
    DRAINS,
  ).action(
    action(async (model: string, runner: string | undefined, flags: AdminFlags) => {
      const result = await client(flags).removeRunner(model, runner);
      const runners = (result.model.runners as Array<{ draining: boolean }> | undefined)?.filter((r) => !r.draining).length ?? "?";
      print(flags, result, () => `${model}: runner stopped; ${runners} left`);
    }),
  );

  common(
    admin
      .command("weights")
      .description("show or set the share of new requests routed to peers / the cloud (GET|PUT /admin/routing/weights)")
      .option("--peer <share>", "share (0-1) of new local requests sent to peer gateways", numberFlag("--peer", { min: 0, max: 1 }))
      .option("--cloud <share>", "share (0-1) sent to the cloud upstream", numberFlag("--cloud", { min: 0, max: 1 })),
  ).action(
    action(async (flags: AdminFlags & { peer?: number; cloud?: number }) => {
      const c = client(flags);
      const change = { ...(flags.peer !== undefined ? { peer: flags.peer } : {}), ...(flags.cloud !== undefined ? { cloud: flags.cloud } : {}) };
      const result = Object.keys(change).length > 0 ? await c.setWeights(change) : await c.weights();
      print(flags, result, () => `peer ${result.weights.peer} (${result.peers} peers), cloud ${result.weights.cloud}`);
    }),
  );

  const rollout = admin.command("rollout").description("models that follow a registry tag: what each serves and where its rollout stands");
  common(rollout.command("status").description("digest, version, state, previous and refused versions of each followed model (GET /admin/rollout)")).action(
    action(async (flags: AdminFlags) => {
      const result = await client(flags).rollout();
      print(flags, result, () => describeRollouts(result.models));
    }),
  );
  common(
    rollout.command("check").description("check the followed tags now; waits until a new version is in or refused (POST /admin/rollout/check)").argument("[model]", "one followed model (default: all)"),
    LOADS,
  ).action(
    action(async (model: string | undefined, flags: AdminFlags) => {
      const result = await client(flags).rolloutCheck(model);
      print(flags, result, () => result.checks.map((c) => `${c.model}: ${c.result}: ${c.detail}`).join("\n"));
    }),
  );
  common(admin.command("rollback").description("serve the previous version of a followed model again; its current digest is refused (POST /admin/rollout/rollback)").argument("<model>", "the served model's name"), LOADS).action(
    action(async (model: string, flags: AdminFlags) => {
      const result = await client(flags).rollback(model);
      print(flags, result, () => `${model}: back on ${result.rollout.version} (${result.rollout.digest})`);
    }),
  );

  common(
    admin
      .command("alert")
      .description("fire (or --resolve) an alert through the gateway's sinks (POST /admin/alerts)")
      .argument("<name>", "alert name, e.g. EdgelmMaintenance")
      .option("--summary <text>", "one line saying what is wrong")
      .option("--severity <level>", "info, warning (default) or critical")
      .option("--label <name=value>", "an extra label (repeatable)", collect)
      .option("--resolve", "resolve the alert instead of firing it"),
  ).action(
    action(async (name: string, flags: AdminFlags & { summary?: string; severity?: string; label?: string[]; resolve?: boolean }) => {
      if (flags.severity !== undefined && !["info", "warning", "critical"].includes(flags.severity)) {
        throw usageError(`--severity must be info, warning or critical (got "${flags.severity}")`, "--severity");
      }
      if (!flags.resolve && !flags.summary) throw usageError("--summary is required to fire an alert", "--summary");
      const result = await client(flags).alert({
        name,
        ...(flags.summary !== undefined ? { summary: flags.summary } : {}),
        ...(flags.severity !== undefined ? { severity: flags.severity as "info" | "warning" | "critical" } : {}),
        ...(flags.label ? { labels: parseLabels(flags.label) } : {}),
        ...(flags.resolve ? { resolve: true } : {}),
      });
      print(flags, result, () => `${result.name}: ${result.status}${result.changed ? "" : result.status === "firing" ? " (was already firing)" : " (was not firing)"}`);
    }),
  );
}
