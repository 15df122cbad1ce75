/**
 * `edgelm federate ...`: federated fine-tuning rounds (src/federate).
 *
 *   federate publish <coordinator-url> --base <name:tag> [--epochs …]   open a round (an admin key)
 *   federate status <coordinator-url> [round] [--wait]                  a round's status (or every round)
 *   federate join <coordinator-url> [--round id]                        take part in one round from this device
 *
 * A coordinator is any gateway with server.federated.coordinator (`edgelm serve`); `join` reads its key, key id
 * and text from server.federated unless flags give them.
 */
import type { Command } from "commander";
import { EdgeError } from "../errors.js";
import { coordinatorRequest, joinRound } from "../federate/round-participant.js";
import type { RoundStatus } from "../federate/round-spec.js";
import { action, commandConfig, integerFlag, numberFlag, usageError } from "./cli-kit.js";
import { printTable } from "./format.js";

interface ClientFlags {
  key?: string;
  json?: boolean;
  config?: string;
}

interface PublishFlags extends ClientFlags {
  base: string;
  output?: string;
  epochs?: number;
  learningRate?: number;
  context?: number;
  clip?: number;
  noise?: number;
  dpDelta?: number;
  deadline?: number;
  minParticipants?: number;
  pushTo?: string;
}

interface JoinFlags extends ClientFlags {
  round?: string;
  text?: string;
  keyFile?: string;
  keyId?: string;
  threads?: number;
}

const base = (url: string): string => url.replace(/\/+$/, "");

export function registerFederate(program: Command): void {
  const federate = program.command("federate").description("federated fine-tuning rounds: publish one, watch it, take part in one (docs/adaptation.md)");
  federate
    .command("publish")
    .description("open a round on a coordinator gateway (needs one of its admin keys)")
    .argument("<url>", "the coordinator gateway, e.g. http://10.0.0.2:11435")
    .requiredOption("--base <name:tag>", "the base model, a store entry on the coordinator")
    .option("--output <name:tag>", "store name for the aggregated model (default <base name>:fed-<round id>)")
    .option("--epochs <n>", "participants' passes over their text (default 1)", integerFlag("--epochs", { min: 1, max: 100 }))
    .option("--learning-rate <lr>", "participants' AdamW step (default 1e-4)", numberFlag("--learning-rate", { min: Number.MIN_VALUE, max: 1 }))
    .option("--context <tokens>", "tokens per training context (default 64)", integerFlag("--context", { min: 8, max: 8192 }))
    .option("--clip <norm>", "bound C on each update's global L2 norm (default 1)", numberFlag("--clip", { min: Number.MIN_VALUE }))
    .option("--noise <z>", "Gaussian noise multiplier z: σ = z·C per value (default 0: no noise)", numberFlag("--noise", { min: 0 }))
    .option("--dp-delta <delta>", "δ the round's (ε, δ) is stated for (default 1e-5)", numberFlag("--dp-delta", { min: Number.MIN_VALUE, max: 0.999 }))
    .option("--deadline <seconds>", "seconds until the round aggregates what arrived (default 600)", numberFlag("--deadline", { min: 1 }))
    .option("--min-participants <n>", "updates needed at the deadline (default 2)", integerFlag("--min-participants", { min: 1 }))
    .option("--push-to <oci-ref>", "push the aggregated version to this registry tag (oci://host/repo:tag), e.g. the one a fleet follows")
    .option("--key <key>", "an admin key of the coordinator")
    .option("--json", "print the round as JSON")
    .option("--config <file>", "config file")
    .action(action(publishCommand));
  federate
    .command("status")
    .description("a round's status: accepted and refused updates, privacy, result (without a round: every round)")
    .argument("<url>", "the coordinator gateway")
    .argument("[round]", "the round id")
    .option("--wait", "wait until the round is done or failed")
    .option("--key <key>", "an API key of the coordinator")
    .option("--json", "print JSON")
    .option("--config <file>", "config file")
    .action(action(statusCommand));
  federate
    .command("join")
    .description("take part in one round: fine-tune on local text, send back only the clipped (noised) delta, signed")
    .argument("<url>", "the coordinator gateway")
    .option("--round <id>", "the round (default: the newest open one)")
    .option("--text <path>", "local training text, a file or folder (default server.federated.text)")
    .option("--key-file <pem>", "this device's Ed25519 private key (default server.federated.key)")
    .option("--key-id <id>", "the id the coordinator lists this key under (default server.federated.key_id)")
    .option("--key <key>", "an API key of the coordinator (default server.federated.coordinator_key)")
    .option("--threads <n>", "trainer threads (default: every core)", integerFlag("--threads", { min: 1, max: 1024 }))
    .option("--json", "print JSON")
    .option("--config <file>", "config file")
    .action(action(joinCommand));
}

async function publishCommand(url: string, flags: PublishFlags): Promise<void> {
  commandConfig(flags);
  const body = {
    base: flags.base,
    ...(flags.output !== undefined ? { output: flags.output } : {}),
    ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
    ...(flags.learningRate !== undefined ? { learning_rate: flags.learningRate } : {}),
    ...(flags.context !== undefined ? { context: flags.context } : {}),
    ...(flags.clip !== undefined ? { clip_norm: flags.clip } : {}),
    ...(flags.noise !== undefined ? { noise_multiplier: flags.noise } : {}),
    ...(flags.dpDelta !== undefined ? { dp_delta: flags.dpDelta } : {}),
    ...(flags.deadline !== undefined ? { deadline_s: flags.deadline } : {}),
    ...(flags.minParticipants !== undefined ? { min_participants: flags.minParticipants } : {}),
    ...(flags.pushTo !== undefined ? { publish: flags.pushTo } : {}),
  };
  const round = (await coordinatorRequest(`${base(url)}/federated/rounds`, { method: "POST", body: JSON.stringify(body), contentType: "application/json", ...(flags.key ? { key: flags.key } : {}) })) as RoundStatus;
  printRound(round, flags.json);
}

async function statusCommand(url: string, round: string | undefined, flags: ClientFlags & { wait?: boolean }): Promise<void> {
  commandConfig(flags);
  const key = flags.key ? { key: flags.key } : {};
  if (round === undefined) {
    if (flags.wait) throw usageError("--wait needs a round id", "--wait");
    const { rounds } = (await coordinatorRequest(`${base(url)}/federated/rounds`, key)) as { rounds: RoundStatus[] };
    if (flags.json) return void process.stdout.write(`${JSON.stringify({ rounds })}\n`);
    printTable(process.stdout, [["round", "state", "base", "accepted", "refused", "deadline"], ...rounds.map((r) => [r.id, r.state, r.base.name, String(r.accepted.length), String(r.refused.length), r.deadline])]);
    return;
  }
  for (;;) {
    const status = (await coordinatorRequest(`${base(url)}/federated/rounds/${encodeURIComponent(round)}`, key)) as RoundStatus;
    if (!flags.wait || status.state === "done" || status.state === "failed") return printRound(status, flags.json);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function joinCommand(url: string, flags: JoinFlags): Promise<void> {
  const config = commandConfig(flags);
  const f = config.server.federated;
  const keyPath = flags.keyFile ?? f.key;
  const keyId = flags.keyId ?? f.key_id;
  const textPath = flags.text ?? f.text;
  if (keyPath === undefined) throw usageError("give --key-file (this device's Ed25519 private key) or set server.federated.key", "--key-file");
  if (keyId === undefined) throw usageError("give --key-id or set server.federated.key_id", "--key-id");
  if (textPath === undefined) throw usageError("give --text or set server.federated.text", "--text");
  const coordinatorKey = flags.key ?? f.coordinator_key;
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    const result = await joinRound(config, {
      coordinatorUrl: url,
      ...(coordinatorKey ? { coordinatorKey } : {}),
      keyPath,
      keyId,
      textPath,
      ...(flags.round !== undefined ? { round: flags.round } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      signal: controller.signal,
      onStatus: (line) => {
        if (!flags.json) process.stderr.write(`${line}\n`);
      },
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ round: result.round, tokens: result.tokens, norm: result.norm, clipped_norm: result.clippedNorm, noise_multiplier: result.noiseMultiplier, bytes_sent: result.bytesSent, accepted: result.accepted, seconds: Number(result.seconds.toFixed(3)) })}\n`);
      return;
    }
    process.stdout.write(
      `round ${result.round}: update accepted — ${result.tokens} tokens, delta norm ${result.norm.toPrecision(4)} clipped to ${result.clippedNorm.toPrecision(4)}` +
        `${result.noiseMultiplier > 0 ? `, noise z=${result.noiseMultiplier}` : ""}, ${result.bytesSent} bytes sent in ${result.seconds.toFixed(1)} s\n`,
    );
  } finally {
    process.off("SIGINT", onSigint);
  }
}

function printRound(round: RoundStatus, json: boolean | undefined): void {
  if (json) return void process.stdout.write(`${JSON.stringify(round)}\n`);
  const p = round.privacy;
  const rows: string[][] = [
    ["round", round.id],
    ["state", round.reason ? `${round.state} (${round.reason})` : round.state],
    ["base", `${round.base.name} (sha256 ${round.base.sha256.slice(0, 16)}…)`],
    ["training", `${round.training.epochs} epoch(s), lr ${round.training.learning_rate}, contexts of ${round.training.context_size}`],
    ["clip C / noise z", `${round.clip_norm} / ${round.noise_multiplier} (norm bound ${round.norm_bound.toPrecision(4)})`],
    ["privacy", p.epsilon === null ? "none (no noise)" : `(ε = ${p.epsilon.toPrecision(4)}, δ = ${p.delta}) per update (ε = ${p.epsilon_replace?.toPrecision(4)} between any two texts); classic bound ${p.classic_epsilon?.toPrecision(4)}${p.classic_valid ? "" : " (not valid: ε ≥ 1)"}`],
    ["participants", `${round.accepted.length} accepted of ${round.min_participants} needed, ${round.refused.length} refused`],
    ["deadline", round.deadline],
    ...round.refused.map((r) => [`refused ${r.key ?? "-"}`, `${r.reason}: ${r.message}`]),
    ...(round.result ? [["result", `${round.result.model} (${round.result.participants} participants, ${round.result.total_tokens} tokens${round.result.signed ? ", signed" : ""})`]] : []),
    ...(round.publish && !round.result ? [["push to", round.publish]] : []),
    ...(round.result?.published ? [["pushed", `${round.result.published.reference}`]] : []),
    ...(round.result?.publish_error ? [["push failed", `${round.result.publish_error} (the version is in the coordinator's store: edgelm push it)`]] : []),
  ];
  printTable(process.stdout, rows);
  if (round.state === "failed") throw new EdgeError("round_closed", `round ${round.id} failed: ${round.reason ?? "unknown reason"}`);
}
