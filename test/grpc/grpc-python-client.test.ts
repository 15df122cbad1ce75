/**
 * A client in another language, as proof the shipped .proto is plain: Debian's
 * python3-grpc-tools generates Python stubs from proto/edgelm/v1/inference.proto
 * (its protoc is 3.5: no proto3 `optional`), and python3-grpcio calls Generate
 * and GetModel against the gateway, with a key and a deadline.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startGateway, storiesModel, type GatewayFixture } from "../server/gateway-fixture.js";
import { bearer, collect, InferenceClient, PROTO_ROOT } from "./grpc-client.js";

/** Debian's interpreter: the python3-grpcio and python3-grpc-tools packages install for it. */
const PYTHON = "/usr/bin/python3";

const CLIENT = `
import json, sys
import grpc
from edgelm.v1 import inference_pb2 as pb, inference_pb2_grpc as rpc

address, key = sys.argv[1], sys.argv[2]
stub = rpc.InferenceStub(grpc.insecure_channel(address))
metadata = [("authorization", "Bearer " + key)]
request = pb.GenerateRequest(model="stories", prompt="Once upon a time",
                             options=pb.GenerationOptions(max_tokens=20, temperature=0))
text, done = "", None
for message in stub.Generate(request, timeout=30, metadata=metadata):
    if message.HasField("chunk"):
        text += message.chunk.text
    else:
        done = message.done
try:
    stub.GetModel(pb.GetModelRequest(name="nope"), timeout=10, metadata=metadata)
    missing = "OK"
except grpc.RpcError as error:
    missing = error.code().name
try:
    stub.ListModels(pb.ListModelsRequest(), timeout=10)
    anonymous = "OK"
except grpc.RpcError as error:
    anonymous = error.code().name
print(json.dumps({"text": text, "finish": pb.FinishReason.Name(done.finish_reason),
                  "tokens": done.usage.completion_tokens, "tps": done.timings.decode_tokens_per_second,
                  "missing": missing, "anonymous": anonymous}))
`;

describe("a Python client generated from the shipped .proto", () => {
  let fixture: GatewayFixture;
  let dir: string;

  before(async () => {
    const probe = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
    if (probe.status !== 0) {
      throw new Error(`${PYTHON} cannot import grpc and grpc_tools: apt-get install python3-grpcio python3-grpc-tools (.ci/run does)\n${probe.stderr}`);
    }
    dir = mkdtempSync(join(tmpdir(), "edgelm-grpc-py-"));
    fixture = await startGateway({ models: [storiesModel()], server: { api_keys: ["py-key"], grpc: { port: 0 } } });
  });
  after(async () => {
    await fixture?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("generates stubs with grpc_tools.protoc and streams Generate like the Node client", async () => {
    execFileSync(PYTHON, ["-m", "grpc_tools.protoc", `-I${PROTO_ROOT}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, join(PROTO_ROOT, "edgelm/v1/inference.proto")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.ok(existsSync(join(dir, "edgelm/v1/inference_pb2_grpc.py")));
    writeFileSync(join(dir, "client.py"), CLIENT);
    const address = fixture.node.grpc!.address;
    // Asynchronously: the gateway answering it runs in this process.
    const run = await promisify(execFile)(PYTHON, [join(dir, "client.py"), address, "py-key"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    const result = JSON.parse(run.stdout) as { text: string; finish: string; tokens: number; tps: number; missing: string; anonymous: string };
    assert.equal(result.tokens, 20);
    assert.equal(result.finish, "FINISH_REASON_LENGTH");
    assert.ok(result.tps > 0);
    assert.equal(result.missing, "NOT_FOUND");
    assert.equal(result.anonymous, "UNAUTHENTICATED");

    const client: any = new InferenceClient(address, grpc.credentials.createInsecure());
    try {
      const node = await collect(client.Generate({ model: "stories", prompt: "Once upon a time", options: { max_tokens: 20, temperature: 0 } }, bearer("py-key")));
      assert.equal(result.text, node.text);
    } finally {
      client.close();
    }
  });
});
