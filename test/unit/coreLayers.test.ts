import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const CORE = path.resolve(process.cwd(), 'src/core');

/**
 * src/core's folders, top layer first. A folder may import (by value) only folders in layers
 * below its own: never a peer, never upwards. ARCHITECTURE.md shows the same list; a new folder
 * has to be placed here before anything may import it.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['usecases', 'push'],
  ['task'],
  ['gate', 'gateway'],
  ['policy'],
  ['config'],
  ['changes', 'egress', 'devcontainer'],
  ['snapshot', 'exec', 'commands', 'approvals'],
  ['engine'],
  ['state'],
  ['audit'],
  ['ground'],
];

const rank = new Map(LAYERS.flatMap((folders, index) => folders.map((folder) => [folder, LAYERS.length - index] as const)));

interface ValueImport {
  file: string;
  target: string;
}

function tsFilesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

/**
 * Every relative value import of the given files, static or dynamic (a lazy `import()` is still a
 * dependency), as esbuild resolves them when it bundles: it drops type-only imports the way the
 * build does, so they order nothing.
 */
function valueImports(files: string[]): ValueImport[] {
  const { metafile } = esbuild.buildSync({ entryPoints: files, bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', outdir: path.join(os.tmpdir(), 'airlock-layers-out'), packages: 'external', logLevel: 'silent' });
  return Object.entries(metafile.inputs).flatMap(([input, { imports }]) => imports
    .filter((entry) => !entry.external && (entry.kind === 'import-statement' || entry.kind === 'dynamic-import' || entry.kind === 'require-call'))
    .map((entry) => ({ file: path.resolve(input), target: path.resolve(entry.path) })));
}

/** The first-level folder of a core file, or undefined for a file at the core's root (index.ts). */
function folderOf(file: string): string | undefined {
  const parts = path.relative(CORE, file).split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
}

function folderEdges(): Map<string, Map<string, string[]>> {
  const edges = new Map<string, Map<string, string[]>>();
  for (const { file, target } of valueImports(tsFilesUnder(CORE))) {
    if (!file.startsWith(CORE + path.sep) || !target.startsWith(CORE + path.sep)) continue;
    const from = folderOf(file);
    const to = folderOf(target);
    if (!from || !to || to === from) continue;
    const targets = edges.get(from) ?? new Map<string, string[]>();
    targets.set(to, [...(targets.get(to) ?? []), `${path.relative(CORE, file)} → ${path.relative(CORE, target)}`]);
    edges.set(from, targets);
  }
  return edges;
}

/** Tarjan's strongly connected components with more than one folder: the folder-level cycles. */
function cycles(edges: Map<string, Map<string, string[]>>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const strong = (node: string) => {
    index.set(node, next); low.set(node, next); next++;
    stack.push(node); onStack.add(node);
    for (const peer of edges.get(node)?.keys() ?? []) {
      if (!index.has(peer)) { strong(peer); low.set(node, Math.min(low.get(node)!, low.get(peer)!)); }
      else if (onStack.has(peer)) low.set(node, Math.min(low.get(node)!, index.get(peer)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do { member = stack.pop()!; onStack.delete(member); component.push(member); } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of new Set([...edges.keys(), ...[...edges.values()].flatMap((targets) => [...targets.keys()])])) if (!index.has(node)) strong(node);
  return found;
}

describe('the core layers', () => {
  test('the import reader tells value imports from type-only ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-layers-'));
    try {
      const file = path.join(dir, 'probe.ts');
      fs.writeFileSync(file, [
        `import type { A } from './typeOnly.js';`,
        `import { type B, type C } from './allTypes.js';`,
        `export type { D } from './reexportType.js';`,
        `import { type E, f } from './mixed.js';`,
        `import * as g from './namespace.js';`,
        `import './sideEffect.js';`,
        `export { h } from './reexport.js';`,
        `const lazy = () => import('./lazy.js');`,
        `import { x } from 'dockerode';`,
        `export const used = [f, g, h, lazy, x];`,
      ].join('\n'));
      for (const name of ['typeOnly', 'allTypes', 'reexportType', 'mixed', 'namespace', 'sideEffect', 'reexport', 'lazy']) fs.writeFileSync(path.join(dir, `${name}.ts`), 'export const f = 1, h = 2; export type A = 1; export type B = 1; export type C = 1; export type D = 1; export type E = 1;\n');
      const found = valueImports([file]).filter((entry) => entry.file === file).map(({ target }) => path.basename(target));
      assert.deepEqual(found.sort(), ['lazy.ts', 'mixed.ts', 'namespace.ts', 'reexport.ts', 'sideEffect.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every core source sits in a folder that has a layer', () => {
    const files = tsFilesUnder(CORE);
    assert.ok(files.length >= 100, `expected the core sources, found ${files.length}`);
    const loose = files.filter((file) => !folderOf(file) && path.basename(file) !== 'index.ts').map((file) => path.relative(CORE, file));
    assert.deepEqual(loose, [], 'these files sit at the root of src/core: put them in a folder');
    const unplaced = [...new Set(files.map(folderOf).filter((folder): folder is string => folder !== undefined && !rank.has(folder)))];
    assert.deepEqual(unplaced, [], 'these folders have no layer: add them to LAYERS here and in ARCHITECTURE.md');
  });

  test('no folder-level import cycles', () => {
    assert.deepEqual(cycles(folderEdges()), []);
  });

  test('each folder imports only folders in layers below its own', () => {
    const wrong: string[] = [];
    for (const [from, targets] of folderEdges()) {
      for (const [to, sites] of targets) {
        if ((rank.get(to) ?? Infinity) >= (rank.get(from) ?? -Infinity)) wrong.push(`${from} → ${to} (${sites.join('; ')})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('the layer list matches ARCHITECTURE.md', () => {
    const doc = fs.readFileSync(path.resolve(process.cwd(), 'ARCHITECTURE.md'), 'utf8');
    const block = /<!-- layers -->([\s\S]*?)<!-- \/layers -->/.exec(doc)?.[1];
    assert.ok(block, 'ARCHITECTURE.md has a <!-- layers --> … <!-- /layers --> block');
    const documented = block.split('\n').map((line) => [...line.matchAll(/`([a-z]+)\/`/g)].map((match) => match[1])).filter((folders) => folders.length > 0);
    assert.deepEqual(documented, LAYERS.map((folders) => [...folders]));
  });
});
