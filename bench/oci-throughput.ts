/**
 * OCI pull and push throughput against Debian's docker-registry on
 * 127.0.0.1, next to `curl` moving the same blob, interleaved in one run,
 * medians reported (these machines are noisy). Also the bytes an update that
 * changes one file of several uploads.
 *
 * The model is the synthetic 135M llama shape at Q8_0 (random weights, ≈145 MB).
 *
 *   npm run build && node dist/bench/oci-throughput.js [--rounds 5] [--json]
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load-config.js";
import { writeSyntheticModel } from "../src/gguf/synthetic-model.js";
import { SYNTHETIC_SHAPES } from "../src/gguf/synthetic-shape.js";
import { ModelStore } from "../src/store/model-store.js";
import { parseOciReference, pullOci, pushOci } from "../src/store/oci/oci-source.js";
import { sha256File } from "../src/trust/file-hash.js";
import { TestRegistry } from "../test/store/oci/registry-fixture.js";
import { integerOption } from "./bench-args.js";
import { median } from "./bench-stats.js";

const rounds = integerOption("--rounds", 5);
const json = process.argv.includes("--json");
const dir = mkdtempSync(join(tmpdir(), "edgelm-oci-bench-"));
const registry = await TestRegistry.start();
const configFor = (home: string) => loadConfig({ env: { EDGELM_HOME: home, EDGELM_OCI_INSECURE: registry.host } }).config;

try {
  const model = join(dir, "model.gguf");
  await writeSyntheticModel(model, { shape: SYNTHETIC_SHAPES["135m"]!, type: "q8_0" });
  const size = statSync(model).size;
  const digest = `sha256:${await sha256File(model)}`;
  const home = join(dir, "home");
  const config = configFor(home);
  await ModelStore.open(config).add(model, { name: "bench:1" });

  const mb = (bytes: number, ms: number): number => bytes / (1 << 20) / (ms / 1000);
  const timings = { edgelmPush: [] as number[], curlPush: [] as number[], edgelmPull: [] as number[], curlPull: [] as number[], curlChecked: [] as number[] };
  const time = async (fn: () => unknown): Promise<number> => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  const curlUpload = (repo: string): void => {
    // The distribution spec's monolithic upload: POST for a location, PUT the bytes with ?digest=.
    const location = execFileSync("curl", ["-sS", "-D", "-", "-o", "/dev/null", "-X", "POST", `http://${registry.host}/v2/${repo}/blobs/uploads/`], { encoding: "utf8" })
      .split(/\r?\n/)
      .find((l) => /^location:/i.test(l))!
      .replace(/^location:\s*/i, "")
      .trim();
    const url = `${location.startsWith("http") ? location : `http://${registry.host}${location}`}${location.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
    execFileSync("curl", ["-sS", "-f", "-o", "/dev/null", "-X", "PUT", "-H", "content-type: application/octet-stream", "--data-binary", `@${model}`, url]);
  };
  for (let round = 0; round < rounds; round++) {
    // Fresh repositories each round, so every push really uploads (no HEAD hit, no mount).
    const ours = async () => timings.edgelmPush.push(await time(() => pushOci("bench:1", parseOciReference(`oci://${registry.host}/push-edgelm-${round}/bench:1`), config)));
    const theirs = async () => timings.curlPush.push(await time(() => curlUpload(`push-curl-${round}/bench`)));
    if (round % 2 === 0) await ours(), await theirs();
    else await theirs(), await ours();
    const pullHome = join(dir, `pull-${round}`);
    const pullOurs = async () => timings.edgelmPull.push(await time(() => pullOci(parseOciReference(`oci://${registry.host}/push-edgelm-${round}/bench:1`), configFor(pullHome))));
    const pullTheirs = async () =>
      timings.curlPull.push(await time(() => execFileSync("curl", ["-sS", "-f", "-o", join(dir, "curl.out"), `http://${registry.host}/v2/push-edgelm-${round}/bench/blobs/${digest}`])));
    // What edgelm also does with the bytes: check the digest and make the file durable (curl, then sha256sum and sync).
    const pullChecked = async () =>
      timings.curlChecked.push(
        await time(() => {
          const out = join(dir, "checked.out");
          execFileSync("curl", ["-sS", "-f", "-o", out, `http://${registry.host}/v2/push-edgelm-${round}/bench/blobs/${digest}`]);
          const got = execFileSync("sha256sum", [out], { encoding: "utf8" }).split(/\s+/)[0];
          if (`sha256:${got}` !== digest) throw new Error("curl fetched other bytes");
          execFileSync("sync", [out]);
          rmSync(out);
        }),
      );
    if (round % 2 === 0) await pullOurs(), await pullTheirs(), await pullChecked();
    else await pullChecked(), await pullTheirs(), await pullOurs();
    rmSync(pullHome, { recursive: true, force: true });
    rmSync(join(dir, "curl.out"), { force: true });
  }

  // An update that changes one file of several: model + licence + template, then a new licence.
  const folder = (name: string, licence: string): string => {
    const path = join(dir, name);
    mkdirSync(path);
    copyFileSync(model, join(path, "model.gguf"));
    writeFileSync(join(path, "LICENSE"), licence);
    writeFileSync(join(path, "template.jinja"), "{% for m in messages %}{{ m.content }}{% endfor %}");
    return path;
  };
  const store = ModelStore.open(config);
  await store.add(folder("v1", "MIT\n"), { name: "kiosk:1" });
  await store.add(folder("v2", "Apache-2.0\n"), { name: "kiosk:2" });
  const first = await pushOci("kiosk:1", parseOciReference(`oci://${registry.host}/fleet/kiosk:1`), config);
  const update = await pushOci("kiosk:2", parseOciReference(`oci://${registry.host}/fleet/kiosk:2`), config);
  const entryBytes = store.require("kiosk:2").size;

  const result = {
    blob_bytes: size,
    rounds,
    push_mb_s: { edgelm: mb(size, median(timings.edgelmPush)), curl: mb(size, median(timings.curlPush)) },
    pull_mb_s: { edgelm: mb(size, median(timings.edgelmPull)), curl: mb(size, median(timings.curlPull)), curl_sha256sum_sync: mb(size, median(timings.curlChecked)) },
    update: { model_bytes: entryBytes, first_push_bytes: first.bytesUploaded, update_push_bytes: update.bytesUploaded, update_blobs: update.blobs },
  };
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(`blob ${(size / 1e6).toFixed(1)} MB, ${rounds} interleaved rounds, medians, registry ${registry.host} (docker-registry 2.8)\n`);
    process.stdout.write(`             edgelm MB/s   curl MB/s   edgelm/curl\n`);
    process.stdout.write(`push      ${result.push_mb_s.edgelm.toFixed(0).padStart(12)} ${result.push_mb_s.curl.toFixed(0).padStart(11)} ${ratio(result.push_mb_s.edgelm, result.push_mb_s.curl).padStart(13)}\n`);
    process.stdout.write(`pull      ${result.pull_mb_s.edgelm.toFixed(0).padStart(12)} ${result.pull_mb_s.curl.toFixed(0).padStart(11)} ${ratio(result.pull_mb_s.edgelm, result.pull_mb_s.curl).padStart(13)}\n`);
    process.stdout.write(
      `pull, curl + sha256sum + sync ${result.pull_mb_s.curl_sha256sum_sync.toFixed(0)} MB/s (edgelm/that ${ratio(result.pull_mb_s.edgelm, result.pull_mb_s.curl_sha256sum_sync)}): edgelm hashes while it writes and fsyncs each blob before it is visible\n`,
    );
    process.stdout.write(
      `update changing one file of 3 (${entryBytes} bytes in all): first push uploaded ${first.bytesUploaded} bytes, the update ${update.bytesUploaded} bytes (licence + config; ${update.blobs.exists} blobs already there)\n`,
    );
  }
} finally {
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
}
