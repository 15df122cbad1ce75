import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrammarCache } from "../../src/engine/grammar-cache.js";

const sized = (text: string) => Promise.resolve(text);

describe("GrammarCache", () => {
  it("keeps at most max_entries, dropping the least recently used", async () => {
    const cache = new GrammarCache<string>({ maxEntries: 3, maxBytes: 1 << 20 }, (v) => v.length);
    let made = 0;
    const get = (key: string) => cache.get(key, () => (made++, sized(`g-${key}`)));
    for (const key of ["a", "b", "c"]) await get(key);
    await get("a"); // a is now the most recent: b goes first
    await get("d");
    assert.deepEqual(cache.stats().entries, 3);
    assert.equal(cache.stats().evictions, 1);
    made = 0;
    await get("a");
    await get("c");
    await get("d");
    assert.equal(made, 0, "a, c and d were kept");
    await get("b");
    assert.equal(made, 1, "b was dropped");
  });

  it("keeps its estimated bytes within max_bytes, and keeps no grammar larger than that alone", async () => {
    const cache = new GrammarCache<string>({ maxEntries: 100, maxBytes: 1000 }, (v) => v.length);
    for (let i = 0; i < 50; i++) {
      await cache.get(`k${i}`, () => sized("x".repeat(200)));
      assert.ok(cache.stats().bytes <= 1000, JSON.stringify(cache.stats()));
    }
    assert.equal(cache.stats().entries, 4); // 200 bytes + a 2- or 3-character key (2 bytes each) per entry
    const huge = await cache.get("huge", () => sized("y".repeat(5000)));
    assert.equal(huge.length, 5000, "the request still gets its grammar");
    assert.ok(cache.stats().bytes <= 1000);
    assert.equal(cache.stats().entries, 4);
  });

  it("shares one compile between concurrent gets of a key, and keeps no failure", async () => {
    const cache = new GrammarCache<string>({ maxEntries: 10, maxBytes: 1 << 20 }, (v) => v.length);
    let made = 0;
    const slow = () => (made++, new Promise<string>((r) => setTimeout(() => r("g"), 10)));
    await Promise.all([cache.get("k", slow), cache.get("k", slow)]);
    assert.equal(made, 1);
    await assert.rejects(cache.get("bad", () => Promise.reject(new Error("no"))));
    assert.equal(cache.stats().entries, 1);
    assert.equal(await cache.get("bad", () => sized("ok")), "ok");
  });
});
