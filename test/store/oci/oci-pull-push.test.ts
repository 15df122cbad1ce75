import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { loadConfig } from "../../../src/config/load-config.js";
import { uploadBlob } from "../../../src/store/oci/blob-upload.js";
import * as media from "../../../src/store/oci/media-types.js";
import { RegistryClient, sha256Digest } from "../../../src/store/oci/registry-client.js";
import { versionOf } from "../../../src/rollout/manifest-version.js";
import { assertOneLine, runCli, tempHome, TEST_MODEL } from "../../helpers.js";
import { RecordingProxy, TestRegistry } from "./registry-fixture.js";

const MODEL = readFileSync(TEST_MODEL);
const MODEL_DIGEST = sha256Digest(MODEL);
const hex = (d: string): string => d.slice("sha256:".length);
const TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}";

/** Everything a store holds besides config and caches: blobs, manifests, partial downloads, temp files. */
function storeContents(home: string): string[] {
  const out: string[] = [];
  for (const dir of ["blobs/sha256", "manifests", "downloads", "tmp"]) {
    const path = join(home, dir);
    if (!existsSync(path)) continue;
    for (const name of readdirSync(path, { recursive: true }) as string[]) out.push(`${dir}/${name}`);
  }
  return out;
}

describe("edgelm pull and push against Debian's docker-registry on 127.0.0.1", () => {
  let registry: TestRegistry;
  let proxy: RecordingProxy;
  let home: string;
  let cleanup: () => void;
  let env: Record<string, string>;
  let work: { home: string; cleanup: () => void };

  before(async () => {
    registry = await TestRegistry.start();
    proxy = await new RecordingProxy(registry.host).start();
    work = tempHome();
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    work.cleanup();
  });
  beforeEach(() => {
    ({ home, cleanup } = tempHome());
    env = { EDGELM_HOME: home, EDGELM_OCI_INSECURE: proxy.host };
    proxy.requests.length = 0;
  });
  afterEach(() => cleanup());

  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra } });
  const json = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await cli([...args, "--json"], extra);
    assert.equal(r.code, 0, `edgelm ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const client = (): RegistryClient => new RegistryClient(proxy.host, loadConfig({ env: { EDGELM_HOME: home, EDGELM_OCI_INSECURE: proxy.host } }).config);

  /** A model folder with a GGUF, a licence and a chat template. */
  function folder(name: string, licence: string): string {
    const dir = join(work.home, name);
    mkdirSync(dir, { recursive: true });
    copyFileSync(TEST_MODEL, join(dir, "model.gguf"));
    writeFileSync(join(dir, "LICENSE"), licence);
    writeFileSync(join(dir, "template.jinja"), TEMPLATE);
    return dir;
  }

  it("pushes ModelPack by default (exact media types, the schema's required fields), pulls it into a fresh store and runs it", async () => {
    assert.equal((await cli(["add", TEST_MODEL, "--name", "stories:1"])).code, 0);
    const pushed = await json(["push", "stories:1", `oci://${proxy.host}/kiosk/stories:1`]);
    assert.equal(pushed.format, "modelpack");
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(pushed.blobs, { exists: 0, mounted: 0, uploaded: 2 });
    const put = proxy.matching("PUT", "/v2/kiosk/stories/manifests/1");
    assert.equal(put.length, 1);
    assert.equal(put[0]!.headers["content-type"], media.OCI_MANIFEST, "manifest PUT with the exact media type");
    assert.ok(proxy.matching("HEAD", `/blobs/${MODEL_DIGEST}`).length >= 1, "HEAD before upload");

    const { bytes, mediaType, digest } = await client().getManifest("kiosk/stories", "1");
    assert.equal(digest, pushed.digest);
    assert.equal(mediaType, media.OCI_MANIFEST);
    const manifest = JSON.parse(bytes.toString());
    assert.equal(manifest.artifactType, media.MODELPACK_ARTIFACT);
    assert.equal(manifest.config.mediaType, media.MODELPACK_CONFIG);
    assert.deepEqual(manifest.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.mediaType, l.annotations[media.FILEPATH_ANNOTATION]]), [
      [media.MODELPACK_WEIGHT_RAW, "stories260K.gguf"],
    ]);
    // The ModelPack config schema: descriptor, config and modelfs required, nothing else at the top; modelfs.type "layers", diffIds ≥ 1.
    const config = JSON.parse((await client().getSmallBlob("kiosk/stories", manifest.config.digest)).toString());
    assert.deepEqual(Object.keys(config).sort(), ["config", "descriptor", "modelfs"]);
    assert.deepEqual(config.modelfs, { type: "layers", diffIds: [MODEL_DIGEST] });
    assert.equal(config.config.format, "gguf");
    assert.equal(config.config.quantization, "F32");
    assert.ok(config.descriptor.name.length >= 1 && !Number.isNaN(Date.parse(config.descriptor.createdAt)));

    const fresh = tempHome();
    try {
      proxy.requests.length = 0;
      const pulled = await json(["pull", `oci://${proxy.host}/kiosk/stories:1`], { EDGELM_HOME: fresh.home });
      assert.equal(pulled.downloaded, true);
      assert.equal(pulled.reference, "stories:1");
      assert.equal(pulled.sha256, hex(MODEL_DIGEST));
      assert.deepEqual(pulled.source, { type: "oci", ref: `oci://${proxy.host}/kiosk/stories:1`, digest: pushed.digest, format: "modelpack" });
      assert.equal(pulled.oci.bytes_downloaded, MODEL.length);
      const accept = proxy.matching("GET", "/manifests/1")[0]!.headers.accept as string;
      for (const type of media.MANIFEST_ACCEPT) assert.ok(accept.includes(type), `Accept lists ${type}`);
      assert.deepEqual(readFileSync(join(fresh.home, "blobs", "sha256", hex(MODEL_DIGEST))), MODEL);
      const run = await cli(["run", `oci://${proxy.host}/kiosk/stories:1`, "Once upon a time", "-t", "0", "-n", "8", "--json"], { EDGELM_HOME: fresh.home });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).model, "stories:1");
      const again = await json(["pull", `oci://${proxy.host}/kiosk/stories:1`], { EDGELM_HOME: fresh.home });
      assert.equal(again.downloaded, false, "same digest: nothing downloaded");
    } finally {
      fresh.cleanup();
    }
  });

  it("names the release with --release: the manifest's org.opencontainers.image.version, which a follower reports", async () => {
    assert.equal((await cli(["add", TEST_MODEL, "--name", "stories:1"])).code, 0);
    const pushed = await json(["push", "stories:1", `oci://${proxy.host}/kiosk/released:stable`, "--release", "1.4.2"]);
    const { bytes, digest } = await client().getManifest("kiosk/released", "stable");
    assert.equal(digest, pushed.digest);
    const manifest = JSON.parse(bytes.toString());
    assert.equal(manifest.annotations[media.VERSION_ANNOTATION], "1.4.2");
    assert.equal(versionOf(bytes, digest), "1.4.2");
    const config = JSON.parse((await client().getSmallBlob("kiosk/released", manifest.config.digest)).toString());
    assert.equal(config.descriptor.version, "1.4.2");
    // Without it the version is the digest's, as before.
    const plain = await json(["push", "stories:1", `oci://${proxy.host}/kiosk/released:plain`]);
    const unnamed = await client().getManifest("kiosk/released", "plain");
    assert.equal(JSON.parse(unnamed.bytes.toString()).annotations[media.VERSION_ANNOTATION], undefined);
    assert.equal(versionOf(unnamed.bytes, plain.digest), `sha256-${hex(plain.digest).slice(0, 12)}`);
    const bad = await cli(["push", "stories:1", `oci://${proxy.host}/kiosk/released:bad`, "--release", "1.0 beta"]);
    assert.equal(bad.code, 2);
    assertOneLine(bad.stderr);
    assert.match(bad.stderr, /--release must be/);
  });

  it("pushes the Docker Model Runner format with --format docker and pulls it back", async () => {
    assert.equal((await cli(["add", folder("docker-src", "MIT\n"), "--name", "assistant:1"])).code, 0);
    const pushed = await json(["push", "assistant:1", `oci://${proxy.host}/kiosk/assistant-docker:1`, "--format", "docker"]);
    assert.equal(pushed.format, "docker");
    const manifest = JSON.parse((await client().getManifest("kiosk/assistant-docker", "1")).bytes.toString());
    assert.equal(manifest.config.mediaType, media.DOCKER_CONFIG_V01);
    const types = Object.fromEntries(manifest.layers.map((l: { mediaType: string; annotations: Record<string, string> }) => [l.annotations[media.FILEPATH_ANNOTATION], l.mediaType]));
    assert.deepEqual(types, { LICENSE: media.DOCKER_LICENSE, "model.gguf": media.DOCKER_GGUF, "template.jinja": media.DOCKER_CHAT_TEMPLATE });
    // docker/model-spec config.md: config.format and config.size required, files[] with diffID and type.
    const config = JSON.parse((await client().getSmallBlob("kiosk/assistant-docker", manifest.config.digest)).toString());
    assert.equal(config.config.format, "gguf");
    assert.equal(config.config.size, String(MODEL.length + 4 + TEMPLATE.length));
    assert.deepEqual(config.files.map((f: { type: string }) => f.type).sort(), [media.DOCKER_CHAT_TEMPLATE, media.DOCKER_GGUF, media.DOCKER_LICENSE].sort());
    const fresh = tempHome();
    try {
      const pulled = await json(["pull", `oci://${proxy.host}/kiosk/assistant-docker:1`, "--name", "assistant:pulled"], { EDGELM_HOME: fresh.home });
      assert.equal(pulled.source.format, "docker");
      assert.deepEqual(pulled.files.map((f: { name: string; role: string }) => `${f.name}:${f.role}`).sort(), ["LICENSE:other", "model.gguf:model", "template.jinja:other"]);
    } finally {
      fresh.cleanup();
    }
  });

  it("uploads only the changed file of an update, mounts blobs across repositories, and uploads in PATCH chunks above store.oci.chunk_bytes", async () => {
    writeFileSync(join(home, "config.yaml"), "store:\n  oci:\n    chunk_bytes: 262144\n");
    assert.equal((await cli(["add", folder("v1", "MIT\n"), "--name", "kiosk:1"])).code, 0);
    assert.equal((await cli(["add", folder("v2", "Apache-2.0, now\n"), "--name", "kiosk:2"])).code, 0);
    const first = await json(["push", "kiosk:1", `oci://${proxy.host}/fleet/kiosk:1`]);
    assert.deepEqual(first.blobs, { exists: 0, mounted: 0, uploaded: 4 });
    const patches = proxy.matching("PATCH", "/v2/fleet/kiosk/blobs/uploads/");
    assert.equal(patches.length, Math.ceil(MODEL.length / 262144), "the model goes in 256 KiB chunks");
    assert.deepEqual(
      patches.map((p) => p.headers["content-range"]),
      patches.map((_, i) => `${i * 262144}-${Math.min(MODEL.length, (i + 1) * 262144) - 1}`),
      "in order",
    );
    assert.equal(patches.reduce((sum, p) => sum + p.bytesIn, 0), MODEL.length);

    proxy.requests.length = 0;
    const update = await json(["push", "kiosk:2", `oci://${proxy.host}/fleet/kiosk:2`]);
    const licence = Buffer.from("Apache-2.0, now\n");
    const configBytes = proxy.matching("PUT", "/blobs/uploads/").filter((p) => !p.path.includes(hex(sha256Digest(licence)))).reduce((sum, p) => sum + p.bytesIn, 0);
    assert.deepEqual(update.blobs, { exists: 2, mounted: 0, uploaded: 2 }, "model and template already there: the licence and the new config go up");
    assert.equal(update.bytes_uploaded, licence.length + configBytes);
    assert.equal(proxy.matching("PATCH", "/blobs/uploads/").length, 0);
    const bodies = proxy.requests.filter((r) => r.bytesIn > 0 && r.path.includes("/blobs/"));
    assert.equal(bodies.reduce((sum, r) => sum + r.bytesIn, 0), update.bytes_uploaded, "only those bytes crossed the wire as blobs");

    proxy.requests.length = 0;
    const mounted = await json(["push", "kiosk:1", `oci://${proxy.host}/other/kiosk:1`, "--mount-from", "fleet/kiosk"]);
    assert.equal(mounted.blobs.mounted, 4, "three layers and the config");
    assert.equal(mounted.digest, first.digest, "same content, same manifest digest");
    assert.equal(proxy.matching("POST", /mount=sha256%3A[0-9a-f]{64}&from=fleet%2Fkiosk/).filter((r) => r.status === 201).length, 4);
    assert.equal(mounted.bytes_uploaded, 0);

    // A name taken by another model is refused before anything is downloaded.
    proxy.requests.length = 0;
    const taken = await cli(["pull", `oci://${proxy.host}/fleet/kiosk:1`]);
    assert.equal(taken.code, 3, taken.stderr);
    assertOneLine(taken.stderr);
    assert.match(taken.stderr, /kiosk:1 already exists in the store \(from elsewhere\); pull under another name with --name/);
    assert.equal(proxy.matching("GET", "/blobs/").length, 0);

    // The tag moves to the update: a second pull replaces the entry and downloads only the changed file.
    const fresh = tempHome();
    try {
      const v1 = await json(["pull", `oci://${proxy.host}/fleet/kiosk:1`], { EDGELM_HOME: fresh.home });
      assert.equal(v1.source.digest, first.digest);
      await json(["push", "kiosk:2", `oci://${proxy.host}/fleet/kiosk:1`]);
      const v2 = await json(["pull", `oci://${proxy.host}/fleet/kiosk:1`], { EDGELM_HOME: fresh.home });
      assert.equal(v2.downloaded, true);
      assert.equal(v2.source.digest, update.digest);
      assert.equal(v2.oci.bytes_downloaded, licence.length);
      assert.deepEqual(readFileSync(join(fresh.home, "blobs", "sha256", hex(sha256Digest(licence)))), licence);
    } finally {
      fresh.cleanup();
    }
  });

  it("resumes an interrupted layer download with a Range request and verifies the digest before the blob is visible", async () => {
    assert.equal((await cli(["add", TEST_MODEL, "--name", "resume:1"])).code, 0);
    await json(["push", "resume:1", `oci://${proxy.host}/kiosk/resume:1`]);
    const fresh = tempHome();
    try {
      writeFileSync(join(fresh.home, "config.yaml"), "store:\n  download_retries: 0\n");
      proxy.cut = { digest: MODEL_DIGEST, afterBytes: 400_000 };
      proxy.requests.length = 0;
      const broken = await cli(["pull", `oci://${proxy.host}/kiosk/resume:1`], { EDGELM_HOME: fresh.home });
      assert.equal(broken.code, 7, broken.stderr);
      assertOneLine(broken.stderr);
      assert.match(broken.stderr, /interrupted: .*run the same command again to resume/);
      assert.deepEqual(storeContents(fresh.home).filter((p) => !p.endsWith(".lock")), [`downloads/${hex(MODEL_DIGEST)}.partial`], "only the partial layer stays");
      assert.ok(!existsSync(join(fresh.home, "blobs", "sha256", hex(MODEL_DIGEST))));
      const resumed = await json(["pull", `oci://${proxy.host}/kiosk/resume:1`], { EDGELM_HOME: fresh.home });
      assert.equal(resumed.downloaded, true);
      const ranged = proxy.matching("GET", `/blobs/${MODEL_DIGEST}`).map((r) => r.headers.range);
      assert.equal(ranged.length, 2);
      assert.match(String(ranged[1]), /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(String(ranged[1]))![0]) > 0);
      assert.ok(resumed.oci.bytes_downloaded < MODEL.length, "the second pull fetched only the rest");
      assert.deepEqual(readFileSync(join(fresh.home, "blobs", "sha256", hex(MODEL_DIGEST))), MODEL);
    } finally {
      fresh.cleanup();
    }
  });

  it("refuses a tampered blob, a wrong digest, an unknown artifact type and leaves nothing behind", async () => {
    // A blob damaged inside the registry's own storage.
    const bad = Buffer.from(MODEL);
    bad[bad.length - 10] ^= 0xff;
    const tamperedDir = join(work.home, "tampered");
    mkdirSync(tamperedDir, { recursive: true });
    writeFileSync(join(tamperedDir, "model.gguf"), bad);
    assert.equal((await cli(["add", join(tamperedDir, "model.gguf"), "--name", "tampered:1"])).code, 0);
    const pushed = await json(["push", "tampered:1", `oci://${proxy.host}/kiosk/tampered:1`]);
    // A damaged store never publishes.
    const local = join(home, "blobs", "sha256", hex(sha256Digest(bad)));
    chmodSync(local, 0o644);
    writeFileSync(local, MODEL);
    const damaged = await cli(["push", "tampered:1", `oci://${proxy.host}/kiosk/tampered:2`]);
    assert.equal(damaged.code, 4, damaged.stderr);
    assertOneLine(damaged.stderr);
    assert.match(damaged.stderr, /does not match its manifest/);
    assert.equal(proxy.matching("PUT", "/manifests/2").length, 0);
    const stored = registry.blobDataPath(sha256Digest(bad));
    chmodSync(stored, 0o644);
    writeFileSync(stored, MODEL); // same length, other bytes
    const fresh = tempHome();
    try {
      const r = await cli(["pull", `oci://${proxy.host}/kiosk/tampered:1`], { EDGELM_HOME: fresh.home });
      assert.equal(r.code, 4, r.stderr);
      assertOneLine(r.stderr);
      assert.match(r.stderr, new RegExp(`does not match its digest: expected ${sha256Digest(bad)}, got ${MODEL_DIGEST}; nothing was stored`));
      assert.deepEqual(storeContents(fresh.home).filter((p) => !p.endsWith(".lock")), []);

      const wrong = `sha256:${"0".repeat(64)}`;
      const missing = await cli(["pull", `oci://${proxy.host}/kiosk/tampered@${wrong}`], { EDGELM_HOME: fresh.home });
      assert.equal(missing.code, 3, missing.stderr);
      assertOneLine(missing.stderr);
      assert.match(missing.stderr, /cannot get the manifest kiosk\/tampered@?:?sha256:0+.*HTTP 404.*MANIFEST_UNKNOWN/);
      assert.ok(pushed.digest);

      // Something that is not a model: a made-up config type and a tar layer.
      const c = client();
      const cfg = Buffer.from('{"kind":"thing"}');
      const layer = Buffer.from("not a model");
      const chunkBytes = 1 << 20;
      await uploadBlob(c, "kiosk/thing", { digest: sha256Digest(cfg), size: cfg.length, bytes: cfg }, { chunkBytes });
      await uploadBlob(c, "kiosk/thing", { digest: sha256Digest(layer), size: layer.length, bytes: layer }, { chunkBytes });
      const thing = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: media.OCI_MANIFEST,
        config: { mediaType: "application/vnd.example.thing.config+json", digest: sha256Digest(cfg), size: cfg.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256Digest(layer), size: layer.length }],
      }));
      await c.putManifest("kiosk/thing", "1", thing, media.OCI_MANIFEST);
      const unknown = await cli(["pull", `oci://${proxy.host}/kiosk/thing:1`], { EDGELM_HOME: fresh.home });
      assert.equal(unknown.code, 2, unknown.stderr);
      assertOneLine(unknown.stderr);
      assert.match(unknown.stderr, /unsupported artifact format .*media types found: application\/vnd\.example\.thing\.config\+json, application\/vnd\.oci\.image\.layer\.v1\.tar/);
      assert.deepEqual(storeContents(fresh.home).filter((p) => !p.endsWith(".lock")), []);
    } finally {
      fresh.cleanup();
    }
  });

  it("pulls and serves artifacts written by hand in the Docker Model Runner (v0.2, both mmproj spellings) and Ollama layouts", async () => {
    const c = client();
    const put = async (repo: string, bytes: Buffer): Promise<{ mediaType: string; digest: string; size: number }> => {
      await uploadBlob(c, repo, { digest: sha256Digest(bytes), size: bytes.length, bytes }, { chunkBytes: 1 << 20 });
      return { mediaType: "", digest: sha256Digest(bytes), size: bytes.length };
    };
    const licence = Buffer.from("MIT License\n");
    const template = Buffer.from("{{ .Prompt }}");
    const mmproj = Buffer.from("GGUF-mmproj-stand-in");
    // Docker Model Runner v0.2: one layer per file, file paths in annotations.
    const dockerConfig = Buffer.from(JSON.stringify({ config: { format: "gguf", quantization: "F32", size: String(MODEL.length) }, descriptor: { created: "2026-01-01T00:00:00Z" }, rootfs: { type: "rootfs", diff_ids: [MODEL_DIGEST] } }));
    const layer = async (repo: string, bytes: Buffer, mediaType: string, path?: string) => ({
      ...(await put(repo, bytes)),
      mediaType,
      ...(path ? { annotations: { [media.FILEPATH_ANNOTATION]: path } } : {}),
    });
    const dockerLayers = [
      await layer("dmr/stories", MODEL, media.DOCKER_GGUF, "stories.gguf"),
      await layer("dmr/stories", licence, media.DOCKER_LICENSE, "LICENSE"),
      await layer("dmr/stories", mmproj, media.DOCKER_MMPROJ_RUNNER, "mmproj.gguf"),
      await layer("dmr/stories", Buffer.from("mmproj spec spelling"), media.DOCKER_MMPROJ),
      await layer("dmr/stories", template, media.DOCKER_CHAT_TEMPLATE, "template.jinja"),
    ];
    const dockerManifest = { schemaVersion: 2, mediaType: media.OCI_MANIFEST, config: { ...(await put("dmr/stories", dockerConfig)), mediaType: media.DOCKER_CONFIG_V02 }, layers: dockerLayers };
    await c.putManifest("dmr/stories", "latest", Buffer.from(JSON.stringify(dockerManifest)), media.OCI_MANIFEST);
    // Ollama: a Docker v2 manifest with vnd.ollama.image.* layers.
    const ollamaConfig = Buffer.from(JSON.stringify({ model_format: "gguf", model_family: "llama", file_type: "F32", architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const params = Buffer.from('{"stop":["</s>"]}');
    const ollamaManifest = {
      schemaVersion: 2,
      mediaType: media.DOCKER_MANIFEST,
      config: { ...(await put("library/stories", ollamaConfig)), mediaType: media.OLLAMA_CONFIG },
      layers: [
        await layer("library/stories", MODEL, "application/vnd.ollama.image.model"),
        await layer("library/stories", template, "application/vnd.ollama.image.template"),
        await layer("library/stories", params, "application/vnd.ollama.image.params"),
        await layer("library/stories", licence, "application/vnd.ollama.image.license"),
      ],
    };
    await c.putManifest("library/stories", "260k", Buffer.from(JSON.stringify(ollamaManifest)), media.DOCKER_MANIFEST);

    const dmr = await json(["pull", `oci://${proxy.host}/dmr/stories`]);
    assert.equal(dmr.reference, "stories:latest");
    assert.equal(dmr.source.format, "docker");
    assert.deepEqual(dmr.files.map((f: { name: string; role: string }) => `${f.name}:${f.role}`).sort(), [
      "LICENSE:other",
      "mmproj-2.gguf:other",
      "mmproj.gguf:other",
      "stories.gguf:model",
      "template.jinja:other",
    ]);
    const ollama = await json(["pull", `oci://${proxy.host}/library/stories:260k`]);
    assert.equal(ollama.source.format, "ollama");
    assert.deepEqual(ollama.files.map((f: { name: string; role: string }) => `${f.name}:${f.role}`).sort(), ["LICENSE:other", "model.gguf:model", "params.json:other", "template:other"]);
    assert.equal(proxy.matching("GET", `/v2/library/stories/blobs/${MODEL_DIGEST}`).length, 0, "the model blob was already in the store: not downloaded twice");
    for (const name of ["stories:latest", "stories:260k"]) {
      const run = await cli(["run", name, "Once upon a time", "-t", "0", "-n", "8", "--json"]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(JSON.parse(run.stdout).text.length > 0);
    }
  });

  it("sends model.sig as an OCI 1.1 referrer and the sha256-<hex> fallback tag; pull applies the trust policy before the model is usable", async () => {
    const keys = join(work.home, "keys");
    assert.equal((await cli(["keygen", "--out", keys])).code, 0);
    const signedDir = folder("signed", "MIT\n");
    assert.equal((await cli(["sign", signedDir, "--key", join(keys, "private.pem")])).code, 0);
    assert.equal((await cli(["add", signedDir, "--name", "signed:1"])).code, 0);
    assert.equal((await cli(["add", TEST_MODEL, "--name", "unsigned:1"])).code, 0);
    const pushed = await json(["push", "signed:1", `oci://${proxy.host}/trust/model:signed`]);
    await json(["push", "unsigned:1", `oci://${proxy.host}/trust/model:unsigned`]);
    assert.match(pushed.signature, /^sha256:[0-9a-f]{64}$/);
    const c = client();
    const sigManifest = JSON.parse((await c.getManifest("trust/model", pushed.signature)).bytes.toString());
    assert.equal(sigManifest.artifactType, media.SIGSTORE_BUNDLE);
    assert.deepEqual(sigManifest.subject, { mediaType: media.OCI_MANIFEST, digest: pushed.digest, size: sigManifest.subject.size });
    assert.equal(sigManifest.config.mediaType, media.OCI_EMPTY);
    const index = JSON.parse((await c.getManifest("trust/model", `sha256-${hex(pushed.digest)}`)).bytes.toString());
    assert.equal(index.mediaType, media.OCI_INDEX);
    assert.deepEqual(index.manifests.map((m: { digest: string; artifactType: string }) => [m.digest, m.artifactType]), [[pushed.signature, media.SIGSTORE_BUNDLE]]);
    assert.deepEqual(readFileSync(join(signedDir, "model.sig")), await c.getSmallBlob("trust/model", sigManifest.layers[0].digest));

    const fresh = tempHome();
    try {
      writeFileSync(join(fresh.home, "config.yaml"), `trust:\n  require_signature: true\n  keys: [${join(keys, "public.pem")}]\n`);
      const refused = await cli(["pull", `oci://${proxy.host}/trust/model:unsigned`], { EDGELM_HOME: fresh.home });
      assert.equal(refused.code, 4, refused.stderr);
      assertOneLine(refused.stderr);
      assert.match(refused.stderr, /unsigned and trust\.require_signature is on/);
      assert.deepEqual(storeContents(fresh.home).filter((p) => !p.endsWith(".lock")), [], "nothing left in the store");
      const ok = await json(["pull", `oci://${proxy.host}/trust/model:signed`], { EDGELM_HOME: fresh.home });
      assert.equal(ok.signed, true);
      assert.match(ok.signature, /^signed by key/);
      assert.ok(ok.files.some((f: { name: string; role: string }) => f.name === "model.sig" && f.role === "signature"));
      const run = await cli(["run", "model:signed", "Once upon a time", "-t", "0", "-n", "4"], { EDGELM_HOME: fresh.home });
      assert.equal(run.code, 0, run.stderr);
    } finally {
      fresh.cleanup();
    }
  });
});

/** sha256 hex of bytes (for readability in assertions). */
export function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
