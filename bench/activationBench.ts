/**
 * `npm run bench -- activate`: the extension's cold start, as VS Code's extension host does it:
 * a fresh process requires dist/extension.js and calls activate() for a workspace that holds an
 * .airlock.json (the activation event). Side by side with the floor: the same fresh process
 * requiring a bundle that does nothing. The goal (core-seam issue) is activate ≤ 50 ms here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, percentile } from './stats.js';

const RUNS = 15;

/**
 * Runs in the child: a stand-in for the `vscode` module that answers every API the extension
 * touches at activation (anything else is a callable that returns a disposable), then times
 * require + activate() separately, in ms.
 */
const CHILD = String.raw`
const Module = require('node:module');
const path = require('node:path');
const [bundle, folder] = process.argv.slice(1);
const disposable = () => ({ dispose() {} });
const any = () => new Proxy(function () {}, { get: (_t, key) => key === 'then' ? undefined : key === 'dispose' ? () => undefined : any(), apply: () => any() });
const fake = new Proxy({
  workspace: {
    workspaceFolders: folder ? [{ uri: { fsPath: folder, scheme: 'file' }, name: path.basename(folder), index: 0 }] : [],
    isTrusted: true,
    getConfiguration: () => ({ get: () => undefined, inspect: () => undefined, has: () => false }),
    onDidChangeConfiguration: disposable, onDidChangeWorkspaceFolders: disposable, onDidGrantWorkspaceTrust: disposable,
    onDidOpenTextDocument: disposable, onDidSaveTextDocument: disposable, onDidChangeTextDocument: disposable,
    createFileSystemWatcher: () => ({ onDidChange: disposable, onDidCreate: disposable, onDidDelete: disposable, dispose() {} }),
    textDocuments: [],
  },
  window: { createOutputChannel: () => ({ info() {}, warn() {}, error() {}, debug() {}, trace() {}, appendLine() {}, show() {}, dispose() {} }) },
  commands: { registerCommand: disposable, executeCommand: async () => undefined },
  languages: { createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {} }) },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
}, { get: (target, key) => key in target ? target[key] : any() });
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'vscode' ? fake : load.call(this, request, ...rest); };
const t0 = process.hrtime.bigint();
const extension = require(bundle);
const t1 = process.hrtime.bigint();
const context = { subscriptions: [], extensionPath: path.dirname(bundle), globalState: { get() {}, update: async () => undefined, keys: () => [] }, workspaceState: { get() {}, update: async () => undefined, keys: () => [] }, globalStorageUri: { fsPath: require('node:os').tmpdir() }, storageUri: undefined, extensionUri: { fsPath: path.dirname(bundle) } };
Promise.resolve(extension.activate(context)).then(() => {
  const t2 = process.hrtime.bigint();
  process.stdout.write(JSON.stringify({ requireMs: Number(t1 - t0) / 1e6, activateMs: Number(t2 - t1) / 1e6, modules: Object.keys(require.cache).length }));
  for (const item of context.subscriptions) try { item.dispose(); } catch {}
  process.exit(0);
});
`;

interface Sample {
  requireMs: number;
  activateMs: number;
  modules: number;
}

function measure(bundle: string, folder: string): Sample[] {
  const samples: Sample[] = [];
  for (let index = 0; index < RUNS; index++) {
    const child = spawnSync(process.execPath, ['-e', CHILD, bundle, folder], { encoding: 'utf8', timeout: 30_000 });
    if (child.status !== 0) throw new Error(`activation run failed: ${child.stderr}`);
    samples.push(JSON.parse(child.stdout) as Sample);
  }
  return samples;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

export function benchActivation(root = process.cwd()): string[] {
  const bundle = path.join(root, 'dist', 'extension.js');
  if (!fs.existsSync(bundle)) throw new Error('dist/extension.js is missing: run `npm run build` first');
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-activate-'));
  fs.writeFileSync(path.join(folder, '.airlock.json'), '{ "resources": { "ttlSeconds": 3600 } }\n');
  const empty = path.join(folder, 'empty-extension.js');
  fs.writeFileSync(empty, 'exports.activate = () => undefined;\n');
  try {
    const real = measure(bundle, folder);
    const floor = measure(empty, folder);
    const total = (samples: Sample[]) => samples.map((sample) => sample.requireMs + sample.activateMs);
    const row = (name: string, values: number[]) => `| ${name} | ${ms(median(values))} | ${ms(percentile(values, 90))} |`;
    return [
      `## Extension activation (${RUNS} fresh processes each; dist/extension.js ${(fs.statSync(bundle).size / 1024).toFixed(0)} KB)`,
      '',
      '| what | p50 | p90 |',
      '|---|---|---|',
      row('require(dist/extension.js)', real.map((sample) => sample.requireMs)),
      row('activate()', real.map((sample) => sample.activateMs)),
      row('require + activate', total(real)),
      row('floor: require + activate of an empty extension', total(floor)),
      '',
      `require + activate against the 50 ms goal: ${(median(total(real)) / 50).toFixed(2)}×; against the empty extension: ${(median(total(real)) / Math.max(0.01, median(total(floor)))).toFixed(1)}×; modules in the require cache after activate: ${real[0]?.modules ?? 0}`,
    ];
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
