import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type * as esbuild from 'esbuild';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

/**
 * The extension's fast start (issue 14 §8): activating it must load none of the core, and loading
 * the core must not compile or run what only some paths need. Built with esbuild.mjs's own options.
 */
const ROOT = path.resolve(__dirname, '..', '..');

type BundleName = 'extension' | 'core' | 'dockerode' | 'treeSitter' | 'cli';
interface BuildScript {
  frontEndBuilds(options: { outdir: string; production?: boolean }): Record<BundleName, esbuild.BuildOptions>;
  WASM_FILES: string[];
}

let script: BuildScript;
let build: typeof esbuild.build;

before(async () => {
  // A computed specifier: esbuild.mjs is plain JavaScript outside the type-checked sources.
  script = (await import(pathToFileURL(path.join(ROOT, 'esbuild.mjs')).href)) as BuildScript;
  build = ((await import('esbuild')) as typeof esbuild).build;
});
after(removeTempDirs);

async function metafile(name: BundleName): Promise<esbuild.Metafile> {
  const options = script.frontEndBuilds({ outdir: makeTempDir('airlock-lazy-'), production: true })[name];
  const result = await build({ ...options, absWorkingDir: ROOT, write: false, metafile: true, logLevel: 'silent' });
  assert.ok(result.metafile, 'esbuild wrote a metafile');
  return result.metafile;
}

/** Writes the extension's bundles (and the parser's WASM) into a fresh folder laid out like dist/. */
async function buildDist(): Promise<string> {
  const dist = makeTempDir('airlock-lazy-dist-');
  const builds = script.frontEndBuilds({ outdir: dist, production: true });
  await Promise.all((['extension', 'core', 'dockerode', 'treeSitter'] as const).map((name) => build({ ...builds[name], absWorkingDir: ROOT, logLevel: 'silent' })));
  for (const file of script.WASM_FILES) fs.copyFileSync(path.join(ROOT, file), path.join(dist, path.basename(file)));
  return dist;
}

function runChild(source: string, args: string[], env: NodeJS.ProcessEnv = {}): unknown {
  const child = spawnSync(process.execPath, ['-e', source, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  assert.equal(child.status, 0, `the child failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

const packageOf = (input: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];

/**
 * In the child: a stand-in `vscode` (what the extension calls, anything else a harmless callable),
 * activation, the policy view's start, a first engine connection to a fake engine on a Unix socket,
 * and a first command classification, with the bundles loaded after each step.
 */
const DIST_CHILD = String.raw`
const Module = require('node:module');
const path = require('node:path');
const http = require('node:http');
const [dist, workspace, socket] = process.argv.slice(1);
const loaded = () => Object.keys(require.cache).map((file) => path.relative(dist, file)).sort();
const lines = [];
let sawPolicy;
const policySeen = new Promise((resolve) => { sawPolicy = resolve; });
const log = (text) => { lines.push(String(text)); if (String(text).startsWith('policy: ')) sawPolicy(); };
const disposable = () => ({ dispose() {} });
const any = () => new Proxy(function () {}, { get: (_t, key) => key === 'then' ? undefined : any(), apply: () => any() });
const vscode = new Proxy({
  workspace: {
    workspaceFolders: [{ uri: { fsPath: workspace, scheme: 'file' }, name: 'ws', index: 0 }],
    isTrusted: true,
    getConfiguration: () => ({ get: () => undefined, inspect: () => undefined }),
    onDidChangeConfiguration: disposable, onDidChangeWorkspaceFolders: disposable, onDidGrantWorkspaceTrust: disposable,
    registerFileSystemProvider: disposable,
  },
  window: {
    registerTerminalProfileProvider: disposable, onDidOpenTerminal: disposable, onDidCloseTerminal: disposable, terminals: [],
    createOutputChannel: () => ({ info: log, warn: log, error: log, debug() {}, show() {}, dispose() {} }),
    showInformationMessage: async () => undefined, showWarningMessage: async () => undefined, showErrorMessage: async () => undefined,
  },
  commands: { registerCommand: disposable, executeCommand: async () => undefined },
  languages: { createDiagnosticCollection: () => ({ set() {}, clear() {}, dispose() {} }) },
  Uri: { file: (fsPath) => ({ fsPath, scheme: 'file' }) },
  EventEmitter: class { event = () => ({ dispose() {} }); fire() {} dispose() {} },
  DiagnosticSeverity: { Error: 0, Warning: 1 },
}, { get: (target, key) => key in target ? target[key] : any() });
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
const within = (promise, what) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(what + ': not within 20 s')), 20000).unref())]);
(async () => {
  const report = {};
  const engine = http.createServer((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(request.url.includes('/containers/json') ? [] : { Version: '99.0-fake', ApiVersion: '1.41' }));
  });
  await new Promise((resolve) => engine.listen(socket, resolve));
  process.env.DOCKER_HOST = 'unix://' + socket;
  const context = { subscriptions: [], extensionPath: dist, globalStorageUri: { fsPath: path.join(dist, 'global-storage') }, extension: { packageJSON: JSON.parse(require('node:fs').readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) } };
  require(path.join(dist, 'extension.js')).activate(context);
  report.afterActivate = loaded();
  await within(policySeen, 'the policy view');
  report.afterPolicyView = loaded().filter((file) => file !== 'dockerode.js');
  report.lines = lines;
  const core = require(path.join(dist, 'core.js'));
  report.version = (await within(core.connectEngine({ env: { DOCKER_HOST: 'unix://' + socket } }), 'the engine')).version.Version;
  report.afterConnect = loaded();
  engine.close();
  const classifier = await core.CommandClassifier.load({ allow: [], ask: [], deny: ['curl'], default: 'allow' });
  report.verdict = classifier.line('echo hi && curl example.invalid').decision;
  report.afterClassify = loaded();
  for (const item of context.subscriptions) item.dispose();
  process.stdout.write(JSON.stringify(report));
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
`;

interface DistReport {
  afterActivate: string[];
  afterPolicyView: string[];
  lines: string[];
  version: string;
  afterConnect: string[];
  verdict: string;
  afterClassify: string[];
}

/** In the child: every module request made while the core (built with its packages left outside) loads. */
const SOURCE_CHILD = String.raw`
const Module = require('node:module');
const requests = new Set();
const load = Module._load;
Module._load = function (request, ...rest) { requests.add(request); return load.call(this, request, ...rest); };
require(process.argv[1]);
process.stdout.write(JSON.stringify([...requests]));
`;

describe('a fast start: what the extension and the core load, and when', () => {
  test('the extension bundle is the VS Code glue only, and reaches the core by a dynamic import of ./core.js', async () => {
    const meta = await metafile('extension');
    const inputs = Object.keys(meta.inputs);
    assert.deepEqual(inputs.filter((input) => !input.startsWith('src/extension/')), [], 'no core module and no package is bundled into extension.js');
    const imports = Object.values(meta.inputs).flatMap((input) => input.imports);
    const toCore = imports.filter((item) => item.path === './core.js');
    assert.ok(toCore.length > 0, 'the extension loads the core');
    assert.deepEqual(toCore.map((item) => [item.kind, item.external]), toCore.map(() => ['dynamic-import', true]), 'only ever on first use, never by a static import');
    assert.deepEqual(imports.filter((item) => item.external && !['vscode', './core.js'].includes(item.path) && !item.path.startsWith('node:')), []);
  });

  test('the core bundle leaves dockerode (ssh2, grpc-js) and web-tree-sitter to their own files, and keeps only English of zod', async () => {
    const meta = await metafile('core');
    const packages = new Set(Object.keys(meta.inputs).map(packageOf).filter((name) => name !== undefined));
    for (const heavy of ['dockerode', 'ssh2', '@grpc/grpc-js', 'protobufjs', 'docker-modem', 'web-tree-sitter']) assert.ok(!packages.has(heavy), `${heavy} is not in core.js`);
    assert.ok(packages.has('zod'), 'zod is (the schemas need it)');
    const locales = Object.keys(meta.inputs).filter((input) => input.includes('node_modules/zod/') && input.includes('/locales/'));
    assert.deepEqual([...new Set(locales.map((input) => path.basename(input)))], ['en.js']);
    const siblings = Object.values(meta.inputs).flatMap((input) => input.imports).filter((item) => item.external && item.path.startsWith('./'));
    assert.deepEqual([...new Set(siblings.map((item) => `${item.path} ${item.kind}`))].sort(), ['./dockerode.js dynamic-import', './web-tree-sitter.js dynamic-import']);
  });

  // After activation the views load core.js and connect to the engine (dockerode.js) in the
  // background; the shell parser waits for the first command that needs classifying.
  test('activation loads no core; the views load core.js after it; dockerode and the parser load on first use', async () => {
    const dist = await buildDist();
    const workspace = makeTempDir('airlock-lazy-ws-');
    fs.writeFileSync(path.join(workspace, '.airlock.json'), '{ "resources": { "ttlSeconds": 3600 } }\n');
    const report = runChild(DIST_CHILD, [dist, workspace, path.join(workspace, 'engine.sock')], { AIRLOCK_STATE_DIR: path.join(workspace, 'state') }) as DistReport;
    assert.deepEqual(report.afterActivate, ['extension.js']);
    assert.deepEqual(report.afterPolicyView, ['core.js', 'extension.js']);
    assert.ok(report.lines.some((line) => line.startsWith('policy: ') && line.includes('.airlock.json is valid')), report.lines.join('\n'));
    assert.equal(report.version, '99.0-fake');
    assert.deepEqual(report.afterConnect, ['core.js', 'dockerode.js', 'extension.js']);
    assert.equal(report.verdict, 'deny');
    assert.deepEqual(report.afterClassify, ['core.js', 'dockerode.js', 'extension.js', 'web-tree-sitter.js']);
  });

  test('loading the core asks for none of the lazily loaded packages', async () => {
    const outdir = makeTempDir('airlock-lazy-src-');
    const options = script.frontEndBuilds({ outdir }).core;
    await build({ ...options, absWorkingDir: ROOT, packages: 'external', sourcemap: false, logLevel: 'silent' });
    const requests = runChild(SOURCE_CHILD, [options.outfile!], { NODE_PATH: path.join(ROOT, 'node_modules') }) as string[];
    assert.ok(requests.includes('zod'), `the packages are outside the bundle: ${requests.join(', ')}`);
    const lazy = ['dockerode', 'ssh2', 'web-tree-sitter', 'diff', 'node-diff3', 'chokidar', 'tar-fs', 'tar-stream'];
    const asked = requests.filter((request) => lazy.some((name) => request === name || request.startsWith(`${name}/`) || path.basename(request, '.js') === name));
    assert.deepEqual(asked, []);
  });
});
