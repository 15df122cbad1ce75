import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODEL_SOURCES } from "../../../src/store/model-sources.js";
import { formatOciRef, parseOciRef } from "../../../src/store/oci/oci-ref.js";
import { planArtifact } from "../../../src/store/oci/artifact-formats.js";
import { parseChallenge } from "../../../src/store/oci/registry-client.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("oci:// references", () => {
  it("parses host, port, nested repository, tag and digest", () => {
    assert.deepEqual(parseOciRef("oci://Registry.Local:5000/team/kiosk/assistant:v1.2"), {
      registry: "registry.local:5000",
      repository: "team/kiosk/assistant",
      tag: "v1.2",
      digest: undefined,
    });
    assert.deepEqual(parseOciRef("oci://127.0.0.1:5000/a"), { registry: "127.0.0.1:5000", repository: "a", tag: "latest", digest: undefined });
    assert.deepEqual(parseOciRef(`oci://r.io/a/b@${DIGEST}`), { registry: "r.io", repository: "a/b", tag: undefined, digest: DIGEST });
    assert.equal(formatOciRef(parseOciRef(`oci://r.io/a/b:1@${DIGEST}`)), `oci://r.io/a/b:1@${DIGEST}`);
    const first = MODEL_SOURCES.find((source) => source.parse("oci://r.io/m/model.gguf:1") !== undefined);
    assert.equal(first?.kind, "oci", "an oci:// reference is never taken for a path");
  });

  it("refuses malformed references, naming the part at fault", () => {
    const cases: Array<[string, RegExp]> = [
      ["oci://r.io", /no repository after the host/],
      ["oci://r.io/UPPER:1", /"UPPER" is not a repository name/],
      ["oci://r.io/a:b:c", /is not a repository name/],
      ["oci://r.io/a@sha256:1234", /is not a digest/],
      ["oci://r.io/a:-bad", /"-bad" is not a tag/],
      ["oci://bad_host/a", /"bad_host" is not a host\[:port\]/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(() => parseOciRef(text), (error: Error & { code?: string }) => error.code === "usage" && pattern.test(error.message), text);
    }
  });
});

describe("WWW-Authenticate challenges", () => {
  it("reads Bearer realm, service and scope, and Basic", () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
    assert.deepEqual(parseChallenge('Basic realm="edgelm"'), { scheme: "basic", params: { realm: "edgelm" } });
  });
});

describe("artifact formats", () => {
  const layer = (mediaType: string, annotations?: Record<string, string>) => ({ mediaType, digest: DIGEST, size: 1, ...(annotations ? { annotations } : {}) });
  const manifest = (config: string, layers: ReturnType<typeof layer>[], artifactType?: string) => ({
    schemaVersion: 2 as const,
    ...(artifactType ? { artifactType } : {}),
    config: layer(config),
    layers,
  });

  it("refuses ModelPack tar layers, layers without a file path, and paths outside the model", () => {
    const mp = "application/vnd.cncf.model.config.v1+json";
    assert.throws(() => planArtifact(manifest(mp, [layer("application/vnd.cncf.model.weight.v1.tar")]), "x"), /unarchived \.raw layers only/);
    assert.throws(() => planArtifact(manifest(mp, [layer("application/vnd.cncf.model.weight.v1.raw")]), "x"), /has no org\.cncf\.model\.filepath annotation/);
    assert.throws(
      () => planArtifact(manifest(mp, [layer("application/vnd.cncf.model.weight.v1.raw", { "org.cncf.model.filepath": "../etc/passwd" })]), "x"),
      /not a relative path inside the model/,
    );
  });

  it("names the media types it found for anything else", () => {
    assert.throws(
      () => planArtifact(manifest("application/vnd.oci.image.config.v1+json", [layer("application/vnd.oci.image.layer.v1.tar+gzip")]), "r.io/app:1"),
      /unsupported artifact format at r\.io\/app:1: .*media types found: application\/vnd\.oci\.image\.config\.v1\+json, application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip/,
    );
    assert.throws(() => planArtifact(manifest("application/vnd.docker.ai.model.config.v0.1+json", [layer("application/vnd.docker.ai.license")]), "x"), /no GGUF layer/);
  });
});
