#!/usr/bin/env node
// Fails when the source tree has an import circle that crosses rooms or lies inside server/.
//
// A room is a folder directly under the root (src/engine, src/server, ...); a file directly in the
// root (src/errors.ts) is a room of its own. Every static import and re-export counts, type-only
// ones too (a type-level circle still ties the files together); a dynamic `import()` does not, since
// that is how a module loads a heavy dependency on first use. A circle inside one room is allowed,
// except in the rooms named by --strict (default: server), which must stay a tree.
//
// Usage: node scripts/check-import-cycles.mjs [--root src] [--strict server[,other]] [--json]
// Exit code: 0 no circle, 1 circles found (each printed with one concrete path), 2 usage error.
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** Lists every .ts file under dir (not .d.ts), sorted. */
function listSources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listSources(path));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

// `import x from "y"`, `import type { a } from "y"`, `export * from "y"`, `export { a } from "y"`,
// `import "y"` — at the start of a line, so JSDoc examples (which start with `*`) never match.
const importClause = String.raw`(?:type\s+)?(?:\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)`;
const fromPattern = new RegExp(String.raw`^[ \t]*(?:import|export)\s+${importClause}\s*from\s*["']([^"']+)["']`, "gm");
const bareImportPattern = /^[ \t]*import\s*["']([^"']+)["']/gm;

/** The relative specifiers a TypeScript source imports statically. */
export function staticImports(text) {
  const specifiers = [];
  for (const pattern of [fromPattern, bareImportPattern]) {
    for (const match of text.matchAll(pattern)) specifiers.push(match[1]);
  }
  return specifiers.filter((s) => s.startsWith("."));
}

/** Maps an import specifier ("./x.js") of `from` to the .ts file it names, or undefined. */
function resolveSpecifier(from, specifier) {
  const target = resolve(dirname(from), specifier);
  for (const candidate of [target.replace(/\.js$/, ".ts"), `${target}.ts`, join(target, "index.ts")]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Strongly connected components with more than one file (or a file importing itself); Tarjan's algorithm. */
function circles(graph) {
  let index = 0;
  const indices = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (node) => {
    indices.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indices.get(next)));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node).has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

/** One shortest circle through `start` inside `members` (breadth-first), as a list of files ending at start. */
function shortestCircle(graph, members, start) {
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of graph.get(node)) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        for (let at = previous.get(node); at !== undefined; at = previous.get(at)) path.unshift(at);
        return [...path, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

/**
 * Finds the forbidden import circles under `root`.
 * @param root the source folder (default "src")
 * @param strictRooms rooms in which no circle at all is allowed (default ["server"])
 * @returns one entry per forbidden circle: its files (relative to root), the rooms they are in, and one path through it
 */
export function findForbiddenCircles(rootDir = "src", strictRooms = ["server"]) {
  const root = resolve(rootDir);
  const files = listSources(resolve(root));
  const graph = new Map(files.map((file) => [file, new Set()]));
  for (const file of files) {
    for (const specifier of staticImports(readFileSync(file, "utf8"))) {
      const target = resolveSpecifier(file, specifier);
      if (target !== undefined && graph.has(target)) graph.get(file).add(target);
    }
  }
  const roomOf = (file) => relative(root, file).split(sep)[0];
  const forbidden = [];
  for (const component of circles(graph)) {
    const rooms = [...new Set(component.map(roomOf))].sort();
    if (rooms.length === 1 && !strictRooms.includes(rooms[0])) continue;
    const members = new Set(component);
    forbidden.push({
      rooms,
      files: component.map((f) => relative(root, f)),
      path: shortestCircle(graph, members, component[0]).map((f) => relative(root, f)),
    });
  }
  return forbidden;
}

function main(argv) {
  let root = "src";
  let strict = ["server"];
  let json = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--root" && argv[i + 1] !== undefined) root = argv[++i];
    else if (arg === "--strict" && argv[i + 1] !== undefined) strict = argv[++i].split(",").filter(Boolean);
    else if (arg === "--json") json = true;
    else {
      console.error(`check-import-cycles: unknown argument ${arg}; usage: [--root src] [--strict server] [--json]`);
      return 2;
    }
  }
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    console.error(`check-import-cycles: ${root} is not a directory`);
    return 2;
  }
  const forbidden = findForbiddenCircles(root, strict);
  if (json) {
    process.stdout.write(`${JSON.stringify(forbidden, null, 2)}\n`);
  } else if (forbidden.length === 0) {
    console.log(`check-import-cycles: no import circle across rooms or inside ${strict.join(", ")} (${root})`);
  } else {
    console.error(`check-import-cycles: ${forbidden.length} forbidden import circle(s) in ${root}:`);
    for (const circle of forbidden) {
      console.error(`- rooms ${circle.rooms.join(", ")}: ${circle.path.join(" -> ")}`);
      if (circle.files.length > circle.path.length - 1) console.error(`  (all ${circle.files.length} files tied in it: ${circle.files.join(", ")})`);
    }
  }
  return forbidden.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("check-import-cycles.mjs")) {
  process.exitCode = main(process.argv.slice(2));
}
