import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readCgroupMemory } from "../../src/ops/cgroup-memory.js";
import { readSystemMemory } from "../../src/ops/system-memory.js";
import { FakeProc } from "./fake-proc.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A fake /proc and /sys/fs/cgroup in one tree: proc/ and cgroup/. */
function tree(): FakeProc {
  return new FakeProc().write("proc/meminfo", `MemTotal:       ${24 * 1024 * 1024} kB\nMemFree:        1000 kB\nMemAvailable:   ${20 * 1024 * 1024} kB\n`);
}

describe("cgroup memory limit", () => {
  it("reads a v2 limit as the smallest memory.max up the path, and caps readSystemMemory with it", () => {
    const fake = tree()
      .write("proc/self/cgroup", "0::/system.slice/edgelm.service\n")
      .write("cgroup/cgroup.controllers", "cpu memory pids\n")
      .write("cgroup/system.slice/memory.max", `${GiB}\n`)
      .write("cgroup/system.slice/edgelm.service/memory.max", "max\n")
      .write("cgroup/system.slice/edgelm.service/memory.current", `${300 * MiB}\n`)
      .write("cgroup/system.slice/edgelm.service/memory.stat", `anon ${200 * MiB}\nfile ${100 * MiB}\ninactive_file ${60 * MiB}\n`);
    try {
      const cgroup = readCgroupMemory(`${fake.root}/proc`, `${fake.root}/cgroup`);
      assert.deepEqual(cgroup, { version: 2, path: "/system.slice/edgelm.service", limitBytes: GiB, usageBytes: 300 * MiB, workingSetBytes: 240 * MiB });
      const memory = readSystemMemory(`${fake.root}/proc`, `${fake.root}/cgroup`);
      assert.deepEqual(memory, { totalBytes: GiB, availableBytes: GiB - 240 * MiB, source: "cgroup-v2", limitBytes: GiB });
    } finally {
      fake.remove();
    }
  });

  it("reads a v2 limit from the mount root inside a container's cgroup namespace", () => {
    const fake = tree()
      .write("proc/self/cgroup", "0::/\n")
      .write("cgroup/cgroup.controllers", "memory\n")
      .write("cgroup/memory.max", `${256 * MiB}\n`)
      .write("cgroup/memory.current", `${50 * MiB}\n`);
    try {
      assert.equal(readCgroupMemory(`${fake.root}/proc`, `${fake.root}/cgroup`)?.limitBytes, 256 * MiB);
    } finally {
      fake.remove();
    }
  });

  it("reads a v1 limit, the hierarchical one when it is smaller, and falls back to the mount root when the path is not visible", () => {
    const fake = tree()
      .write("proc/self/cgroup", "9:pids:/x\n4:memory:/libpod_parent/abc\n0::/\n")
      .write("cgroup/memory/memory.limit_in_bytes", `${512 * MiB}\n`)
      .write("cgroup/memory/memory.usage_in_bytes", `${100 * MiB}\n`)
      .write("cgroup/memory/memory.stat", `cache 1\nhierarchical_memory_limit ${256 * MiB}\ntotal_inactive_file ${10 * MiB}\n`);
    try {
      const cgroup = readCgroupMemory(`${fake.root}/proc`, `${fake.root}/cgroup`);
      assert.deepEqual(cgroup, { version: 1, path: "/libpod_parent/abc", limitBytes: 256 * MiB, usageBytes: 100 * MiB, workingSetBytes: 90 * MiB });
      assert.equal(readSystemMemory(`${fake.root}/proc`, `${fake.root}/cgroup`).source, "cgroup-v1");
    } finally {
      fake.remove();
    }
  });

  it("treats v1's 2^63 − 4096 and v2's max as no limit, and a limit above MemTotal as the host's figures", () => {
    const fake = tree()
      .write("proc/self/cgroup", "4:memory:/\n")
      .write("cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
      .write("cgroup/memory/memory.stat", "hierarchical_memory_limit 9223372036854771712\n");
    const big = tree()
      .write("proc/self/cgroup", "0::/\n")
      .write("cgroup/cgroup.controllers", "memory\n")
      .write("cgroup/memory.max", `${64 * GiB}\n`);
    try {
      assert.equal(readCgroupMemory(`${fake.root}/proc`, `${fake.root}/cgroup`), undefined);
      assert.equal(readSystemMemory(`${fake.root}/proc`, `${fake.root}/cgroup`).source, "meminfo");
      assert.equal(readCgroupMemory(`${big.root}/proc`, `${big.root}/cgroup`)?.limitBytes, 64 * GiB);
      assert.deepEqual(readSystemMemory(`${big.root}/proc`, `${big.root}/cgroup`), { totalBytes: 24 * GiB, availableBytes: 20 * GiB, source: "meminfo" });
    } finally {
      fake.remove();
      big.remove();
    }
  });

  it("reads this machine's own cgroup without failing", () => {
    const memory = readSystemMemory();
    assert.ok(memory.totalBytes > 0 && memory.availableBytes <= memory.totalBytes);
  });
});
