/**
 * `npm run bench -- activate`: the extension's cold start, as VS Code's extension host does it:
 * a fresh process requires dist/extension.js and calls activate() for a workspace that holds an
 * .airlock.json (the activation event). Side by side with the floor: the same fresh process
 * requiring a bundle that does nothing. The goal (issue 14 §8) is require + activate ≤ 50 ms here.
 *
 * Activation loads no core; the policy view loads dist/core.js right after activate() returns, so
 * "policy view ready" (its first check reported) is measured separately, and so is what core.js and
 * dockerode.js (loaded by the first engine connection) cost on their own.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median, percentile } from './stats.js';

const RUNS = 15;

/**
 * Runs in the child: a stand-in for the `vscode` module that answers every API the extension
 * touches (anything else is a callable that returns a disposable), then times require and
 * activate() separately, and the policy view's first report (its first `policy:` Output line), in
 * ms from the start of the require.
 */
const CHILD = String.raw`
const Module = require('node:module');
const path = require('node:path');
const [bundle, folder, awaitPolicy] = process.argv.slice(1);
const t0 = process.hrtime.bigint();
let policyReady;
const policyLine = new Promise((resolve) => { policyReady = resolve; });
const line = (text) => { if (String(text).startsWith('policy: ')) policyReady(process.hrtime.bigint()); };
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
    registerFileSystemProvider: disposable,
  },
  window: {
    registerTerminalProfileProvider: disposable, onDidOpenTerminal: disposable, onDidCloseTerminal: disposable, terminals: [],
    createOutputChannel: () => ({ info: line, warn: line, error: line, debug() {}, trace() {}, appendLine: line, show() {}, dispose() {} }),
    showInformationMessage: async () => undefined, showWarningMessage: async () => undefined, showErrorMessage: async () => undefined,
  },
  commands: { registerCommand: disposable, executeCommand: async () => undefined },
  languages: { createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {} }) },
  Uri: { file: (fsPath) => ({ fsPath, scheme: 'file' }) },
  EventEmitter: class { event = () => ({ dispose() {} }); fire() {} dispose() {} },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
}, { get: (target, key) => key in target ? target[key] : any() });
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'vscode' ? fake : load.call(this, request, ...rest); };
const extension = require(bundle);
const t1 = process.hrtime.bigint();
const context = { subscriptions: [], extensionPath: path.dirname(bundle), globalState: { get() {}, update: async () => undefined, keys: () => [] }, workspaceState: { get() {}, update: async () => undefined, keys: () => [] }, globalStorageUri: { fsPath: require('node:os').tmpdir() }, storageUri: undefined, extensionUri: { fsPath: path.dirname(bundle) }, extension: { packageJSON: JSON.parse(require('node:fs').readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) } };
const ms = (from, to) => Number(to - from) / 1e6;
Promise.resolve(extension.activate(context)).then(async () => {
  const t2 = process.hrtime.bigint();
  const modules = Object.keys(require.cache).length;
  const t3 = awaitPolicy ? await Promise.race([policyLine, new Promise((resolve) => setTimeout(resolve, 20000, undefined))]) : undefined;
  process.stdout.write(JSON.stringify({ requireMs: ms(t0, t1), activateMs: ms(t1, t2), policyReadyMs: t3 === undefined ? -1 : ms(t0, t3), modules }));
  for (const item of context.subscriptions) try { item.dispose(); } catch {}
  process.exit(0);
});
`;

/** A bundle alone in a fresh process: require, in ms. */
const REQUIRE_ONLY = String.raw`
const t0 = process.hrtime.bigint();
require(process.argv[1]);
process.stdout.write(JSON.stringify({ requireMs: Number(process.hrtime.bigint() - t0) / 1e6 }));
process.exit(0);
`;

interface Sample {
  requireMs: number;
  activateMs: number;
  /** From the start of the require to the policy view's first report; -1 if none came. */
  policyReadyMs: number;
  /** Modules in the require cache when activate() returned: 1 is the bundle alone. */
  modules: number;
}

function run<T>(script: string, args: string[], env: NodeJS.ProcessEnv): T[] {
  const samples: T[] = [];
  for (let index = 0; index < RUNS; index++) {
    const child = spawnSync(process.execPath, ['-e', script, ...args], { encoding: 'utf8', timeout: 30_000, env });
    if (child.status !== 0) throw new Error(`activation run failed: ${child.stderr}`);
    samples.push(JSON.parse(child.stdout) as T);
  }
  return samples;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const kb = (file: string) => `${(fs.statSync(file).size / 1024).toFixed(0)} KB`;

export function benchActivation(root = process.cwd()): string[] {
  const dist = path.join(root, 'dist');
  const bundle = path.join(dist, 'extension.js');
  if (!fs.existsSync(bundle)) throw new Error('dist/extension.js is missing: run `npm run build` first');
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-activate-'));
  fs.writeFileSync(path.join(folder, '.airlock.json'), '{ "resources": { "ttlSeconds": 3600 } }\n');
  const empty = path.join(folder, 'empty-extension.js');
  fs.writeFileSync(empty, 'exports.activate = () => undefined;\n');
  // The policy view reads the state folder's task records: an empty one, not the user's.
  const env = { ...process.env, AIRLOCK_STATE_DIR: path.join(folder, 'state') };
  try {
    const real = run<Sample>(CHILD, [bundle, folder, 'await-policy'], env);
    const floor = run<Sample>(CHILD, [empty, folder], env);
    const alone = (name: string) => {
      const file = path.join(dist, name);
      return fs.existsSync(file) ? { file, samples: run<{ requireMs: number }>(REQUIRE_ONLY, [file], env).map((sample) => sample.requireMs) } : undefined;
    };
    const core = alone('core.js');
    const dockerode = alone('dockerode.js');
    const activation = (samples: Sample[]) => samples.map((sample) => sample.requireMs + sample.activateMs);
    const ready = real.map((sample) => sample.policyReadyMs).filter((value) => value >= 0);
    const row = (name: string, values: number[]) => `| ${name} | ${ms(median(values))} | ${ms(percentile(values, 90))} |`;
    return [
      `## Extension activation (${RUNS} fresh processes each; dist/extension.js ${kb(bundle)})`,
      '',
      '| what | p50 | p90 |',
      '|---|---|---|',
      row('require(dist/extension.js)', real.map((sample) => sample.requireMs)),
      row('activate()', real.map((sample) => sample.activateMs)),
      row('**activation**: require + activate', activation(real)),
      ...(ready.length ? [row('policy view ready: from require to its first check (core loaded, policy read, watch asked for)', ready)] : []),
      ...(core ? [row(`require(dist/core.js) alone (${kb(core.file)})`, core.samples)] : []),
      ...(dockerode ? [row(`require(dist/dockerode.js) alone (${kb(dockerode.file)}; the first engine connection loads it)`, dockerode.samples)] : []),
      row('floor: require + activate of an empty extension', activation(floor)),
      '',
      `activation against the 50 ms goal: ${(median(activation(real)) / 50).toFixed(2)}×; against the empty extension: ${(median(activation(real)) / Math.max(0.01, median(activation(floor)))).toFixed(1)}×; ` +
        `modules in the require cache when activate() returned: ${real[0]?.modules ?? 0}; policy view reported in ${ready.length} of ${real.length} runs`,
    ];
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
