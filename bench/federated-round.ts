/**
 * A federated round on loopback, measured: a coordinator gateway and 3 participant gateways (each its own store,
 * Ed25519 key and shard of text, stories260K, the real trainer), the round's wall time from publishing to the
 * stored average (median of --rounds), and the perplexity on each shard's held-out paragraph of: the base, the
 * participant's own fine-tune (local only), the federated average without and with noise, and one model
 * fine-tuned centrally on every shard's training part. Same settings everywhere: 2 epochs, lr 1e-4, contexts
 * of 64, clip 0.25 (the noised round z = 0.004).
 *
 *   node dist/bench/federated-round.js [--rounds 3] [--json FILE]
 * Needs EDGELM_TEST_TRAINER (a llama-finetune built by `edgelm engine build --backend trainer`).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fineTuneModel } from "../src/adapt/fine-tune-model.js";
import { resolveModel } from "../src/store/resolve-model.js";
import { testTrainer } from "../test/helpers.js";
import { ed25519Pair, perplexity, publishRound, RecordingProxy, settledRound, shards, startCoordinator, startParticipant, type Member } from "../test/federate/federation-fixture.js";
import { integerOption, jsonOutOption } from "./bench-args.js";
import { median } from "./bench-stats.js";

const rounds = integerOption("--rounds", 3);
const jsonOut = jsonOutOption();
const TRAINING = { base: "stories:base", epochs: 2, learning_rate: 1e-4, context: 64, clip_norm: 0.25 };
const NOISE = 0.004;

const trainer = await testTrainer();
const data = shards();
const pairs = data.map((s) => ({ id: `dev-${s.name}`, ...ed25519Pair() }));
const coordinator = await startCoordinator(trainer, pairs);
const participants: Member[] = [];
const proxies: RecordingProxy[] = [];
try {
  for (const [i, pair] of pairs.entries()) {
    const proxy = await RecordingProxy.start(coordinator.url);
    proxies.push(proxy);
    participants.push(await startParticipant(trainer, pair.id, pair.privatePem, data[i]!.train, proxy.url));
  }
  const config = coordinator.config;
  const seconds: number[] = [];
  let plain = "";
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    const round = await publishRound(coordinator.url, { ...TRAINING, deadline_s: 300, min_participants: 3, output: `stories:fed-plain-${r}` });
    const done = await settledRound(coordinator.url, round.id, 300_000);
    if (done.state !== "done") throw new Error(`round failed: ${done.reason}`);
    seconds.push((performance.now() - started) / 1000);
    if (r === 0) plain = done.result!.model;
  }
  const noised = await settledRound(coordinator.url, (await publishRound(coordinator.url, { ...TRAINING, noise_multiplier: NOISE, deadline_s: 300, min_participants: 3, output: "stories:fed-noise" })).id, 300_000);
  if (noised.state !== "done") throw new Error(`noised round failed: ${noised.reason}`);
  const base = await resolveModel("stories:base", config);
  const tune = async (text: string, name: string): Promise<string> => {
    const textFile = join(coordinator.home, `${name}.txt`);
    writeFileSync(textFile, text);
    const out = join(coordinator.home, `${name}.gguf`);
    await fineTuneModel(base, textFile, out, config, { epochs: TRAINING.epochs, learningRate: TRAINING.learning_rate, contextSize: TRAINING.context, validationSplit: 0, threads: 1 });
    return out;
  };
  const central = await tune(data.map((s) => s.train).join("\n"), "central");
  const rows: Array<Record<string, number | string>> = [];
  for (const shard of data) {
    const local = await tune(shard.train, `local-${shard.name}`);
    rows.push({
      shard: shard.name,
      base: await perplexity(config, "stories:base", shard.heldOut),
      local_only: await perplexity(config, local, shard.heldOut),
      federated: await perplexity(config, plain, shard.heldOut),
      federated_noise: await perplexity(config, noised.result!.model, shard.heldOut),
      centralised: await perplexity(config, central, shard.heldOut),
    });
  }
  const bytesSent = proxies.map((p) => p.bytes().length);
  console.log(`round wall time, 3 participants (publish → stored average), ${rounds} rounds: median ${median(seconds).toFixed(2)} s (${seconds.map((s) => s.toFixed(2)).join(", ")})`);
  console.log(`bytes each participant sent over all ${rounds + 1} rounds (polls included): ${bytesSent.join(", ")}`);
  console.log(`noised round: z = ${NOISE}, C = ${TRAINING.clip_norm}, (ε, δ) = (${noised.privacy.epsilon?.toPrecision(5)}, ${noised.privacy.delta}) per update`);
  console.log("\nperplexity on each shard's held-out paragraph (windows of 128)");
  const columns = ["shard", "base", "local_only", "federated", "federated_noise", "centralised"];
  console.log(`| ${columns.join(" | ")} |\n|${columns.map(() => "---").join("|")}|`);
  for (const row of rows) console.log(`| ${columns.map((c) => (typeof row[c] === "number" ? (row[c] as number).toFixed(3) : row[c])).join(" | ")} |`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ seconds, rows, bytes_sent: bytesSent, privacy: noised.privacy }, null, 2));
} finally {
  await Promise.all(participants.map((p) => p.close()));
  await coordinator.close();
  await Promise.all(proxies.map((p) => p.close()));
}
