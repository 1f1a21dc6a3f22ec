/**
 * `npm run bench -- extension`: the Tasks view's first render and the extension host's memory
 * (issue 18), with real tasks. The parent starts real tasks (TaskService, the bench image, a small
 * workspace; some get a change set so the view has a last look to read) in a private state folder;
 * fresh processes then do what VS Code's extension host does: require dist/extension.js against a
 * stand-in `vscode` module, call activate(), and render the Tasks view the way the workbench asks
 * for it (getChildren of the root, getTreeItem of each row) when the view is created and on every
 * onDidChangeTreeData. Side by side in the same run: the same process with a do-nothing extension
 * (the floor), and the same render against an empty state folder (what the tasks add).
 *
 * "First render with N tasks" is from the call to activate() to the first root getChildren() answer
 * that lists every live task: the core's load, the engine connection (dockerode's load, the ping),
 * the TaskWatcher's read of the records and its one container list, and the overviews.
 *
 * Memory: the host process after activation with 10 live tasks, the tree rendered, every task
 * expanded and Count Changes run on each (each a real look into the box, a new change set, and a
 * full refresh of the view): rss sampled every 5 ms and at each step, and heapUsed after a GC.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeService } from '../src/core/changes/changeService.js';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import { TaskStore } from '../src/core/state/taskStore.js';
import { TaskService } from '../src/core/task/taskService.js';
import { median, percentile } from './stats.js';

const RENDER_TASKS = 20;
const MEMORY_TASKS = 10;
const RUNS = 9;
const MEMORY_RUNS = 3;
/** Tasks of the 20 that get a change set before the runs, so the view reads a last look for them. */
const WITH_CHANGE_SET = 10;

/**
 * Runs in the child. A stand-in for `vscode` that answers what the extension touches (anything
 * else is a callable returning a disposable), with a real EventEmitter and a tree view that renders
 * its provider like the workbench does: the root's children and each row's item, on creation and on
 * each change (changes in one turn coalesced). Prints one JSON line.
 */
const CHILD = String.raw`
const Module = require('node:module');
const path = require('node:path');
const v8 = require('node:v8');
const [bundle, folder, mode, wantedArg] = process.argv.slice(1);
const wanted = Number(wantedArg);
const t0 = process.hrtime.bigint();
const ms = (from, to = process.hrtime.bigint()) => Number(to - from) / 1e6;
let tActivate;
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 5);
const sample = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
const errors = [];
const line = (level) => (text) => { if (level === 'error') errors.push(String(text)); };
const disposable = () => ({ dispose() {} });
const any = () => new Proxy(function () {}, { get: (_t, key) => key === 'then' ? undefined : key === 'dispose' ? () => undefined : any(), apply: () => any() });
class EventEmitter {
  listeners = new Set();
  event = (listener, thisArg) => { const entry = { listener, thisArg }; this.listeners.add(entry); return { dispose: () => this.listeners.delete(entry) }; };
  fire(value) { for (const { listener, thisArg } of [...this.listeners]) listener.call(thisArg, value); }
  dispose() { this.listeners.clear(); }
}
class TreeItem { constructor(label, collapsibleState) { this.label = label; this.collapsibleState = collapsibleState; } }
class ThemeIcon { constructor(id, color) { this.id = id; this.color = color; } }
class ThemeColor { constructor(id) { this.id = id; } }
class MarkdownString { constructor(value = '') { this.value = value; } appendMarkdown(text) { this.value += text; return this; } appendText(text) { this.value += text; return this; } }
const uri = (fsPath, scheme = 'file') => ({ fsPath, path: fsPath, scheme, toString: () => scheme + '://' + fsPath, with: () => uri(fsPath, scheme) });
const handlers = new Map();
const renders = [];
let tasksProvider;
let engineConnected = false;
let firstListedMs;
let tasksFirstAll;
const firstAll = new Promise((resolve) => { tasksFirstAll = resolve; });
let pending = false;
async function render() {
  pending = false;
  const nodes = await tasksProvider.getChildren(undefined);
  for (const node of nodes) tasksProvider.getTreeItem(node);
  const live = nodes.filter((node) => node.kind === 'task').length;
  const listed = live + nodes.filter((node) => node.kind === 'recorded').length;
  renders.push({ at: ms(tActivate), live, listed });
  if (firstListedMs === undefined && listed >= wanted) firstListedMs = ms(tActivate);
  if (live >= wanted && engineConnected) tasksFirstAll(nodes);
  sample();
}
const schedule = () => { if (!pending) { pending = true; setImmediate(() => void render().catch((error) => errors.push(String(error)))); } };
const fake = new Proxy({
  workspace: {
    workspaceFolders: [{ uri: uri(folder), name: path.basename(folder), index: 0 }],
    isTrusted: true,
    getConfiguration: () => ({ get: (_key, fallback) => fallback, inspect: () => undefined, has: () => false, update: async () => undefined }),
    onDidChangeConfiguration: disposable, onDidChangeWorkspaceFolders: disposable, onDidGrantWorkspaceTrust: disposable,
    onDidOpenTextDocument: disposable, onDidSaveTextDocument: disposable, onDidChangeTextDocument: disposable, onDidCloseTextDocument: disposable,
    createFileSystemWatcher: () => ({ onDidChange: disposable, onDidCreate: disposable, onDidDelete: disposable, dispose() {} }),
    textDocuments: [],
    registerFileSystemProvider: disposable, registerTextDocumentContentProvider: disposable,
    getWorkspaceFolder: () => undefined,
  },
  window: {
    registerTerminalProfileProvider: disposable, registerFileDecorationProvider: disposable,
    onDidOpenTerminal: disposable, onDidCloseTerminal: disposable, onDidChangeActiveTextEditor: disposable, terminals: [], activeTextEditor: undefined,
    createOutputChannel: () => ({ info: line('info'), warn: line('warn'), error: line('error'), debug() {}, trace() {}, appendLine: line('info'), show() {}, dispose() {} }),
    showInformationMessage: async () => undefined, showWarningMessage: async () => undefined, showErrorMessage: async () => undefined,
    setStatusBarMessage: disposable,
    createStatusBarItem: () => ({ show() {}, hide() {}, dispose() {} }),
    withProgress: (_options, task) => task({ report() {} }, { isCancellationRequested: false, onCancellationRequested: disposable }),
    createTreeView: (id, { treeDataProvider }) => {
      const visibility = new EventEmitter();
      const view = { visible: true, badge: undefined, message: undefined, onDidChangeVisibility: visibility.event, onDidChangeSelection: disposable, onDidExpandElement: disposable, onDidCollapseElement: disposable, reveal: async () => undefined, dispose() { visibility.dispose(); } };
      if (id === 'airlock.tasks') {
        tasksProvider = treeDataProvider;
        treeDataProvider.onDidChangeTreeData?.(schedule);
        schedule();
      }
      return view;
    },
  },
  commands: {
    registerCommand: (id, handler) => { handlers.set(id, handler); return { dispose: () => handlers.delete(id) }; },
    executeCommand: async (id, ...args) => {
      if (id === 'setContext' && args[0] === 'airlock.engine') engineConnected = args[1] === 'connected';
      return handlers.get(id)?.(...args);
    },
    getCommands: async () => [...handlers.keys()],
  },
  extensions: { getExtension: () => undefined, all: [], onDidChange: disposable },
  languages: { createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {} }) },
  Uri: { file: (fsPath) => uri(fsPath), from: (parts) => uri(parts.path, parts.scheme), parse: (text) => uri(text, 'file'), joinPath: (base, ...parts) => uri(path.join(base.fsPath, ...parts), base.scheme) },
  EventEmitter, TreeItem, ThemeIcon, ThemeColor, MarkdownString,
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
}, { get: (target, key) => key in target ? target[key] : any() });
const loads = {};
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'vscode') return fake;
  const name = /(?:^|\/)(core|dockerode)\.js$/.exec(request)?.[1];
  if (!name || loads[name]) return load.call(this, request, ...rest);
  const start = process.hrtime.bigint();
  try { return load.call(this, request, ...rest); } finally { loads[name] = { at: ms(tActivate, start), took: ms(start) }; }
};
const extension = require(bundle);
const requireMs = ms(t0);
const context = { subscriptions: [], extensionPath: path.dirname(path.dirname(bundle)), globalState: { get() {}, update: async () => undefined, keys: () => [], setKeysForSync() {} }, workspaceState: { get() {}, update: async () => undefined, keys: () => [] }, globalStorageUri: uri(path.join(folder, 'global-storage')), storageUri: undefined, extensionUri: uri(path.dirname(path.dirname(bundle))), extension: { packageJSON: JSON.parse(require('node:fs').readFileSync(path.join(process.cwd(), 'package.json'), 'utf8')) } };
tActivate = process.hrtime.bigint();
const cpuAtActivate = process.cpuUsage();
const finish = (result) => {
  clearInterval(sampler);
  process.stdout.write(JSON.stringify({ requireMs, ...result, errors }) + '\n');
  for (const item of context.subscriptions) try { item.dispose(); } catch {}
  process.exit(0);
};
Promise.resolve(extension.activate(context)).then(async () => {
  const activateMs = ms(tActivate);
  const timeout = new Promise((resolve) => setTimeout(resolve, 30000, undefined));
  if (mode === 'floor') {
    // The do-nothing extension: held as long as a render takes, then measured the same way.
    await new Promise((resolve) => setTimeout(resolve, 300));
    sample();
    global.gc?.();
    return finish({ activateMs, rss: process.memoryUsage().rss, peakRss, heapUsed: process.memoryUsage().heapUsed });
  }
  const nodes = await Promise.race([firstAll, timeout]);
  const firstAllMs = nodes ? ms(tActivate) : -1;
  const firstAllCpuMs = (process.cpuUsage(cpuAtActivate).user + process.cpuUsage(cpuAtActivate).system) / 1000;
  const firstRender = renders[0];
  if (mode === 'render' || !nodes) return finish({ activateMs, firstMs: firstRender?.at ?? -1, firstListed: firstRender?.listed ?? -1, firstListedMs: firstListedMs ?? -1, firstAllMs, firstAllCpuMs, renders: renders.length, loads });
  // memory: every task expanded (its detail rows) and Count Changes on each, one after another.
  const tasks = nodes.filter((node) => node.kind === 'task');
  const steps = [];
  for (const task of tasks) {
    for (const row of await tasksProvider.getChildren(task)) tasksProvider.getTreeItem(row);
    const before = renders.length;
    await handlers.get('airlock.countChanges')(task);
    while (renders.length === before) await new Promise((resolve) => setImmediate(resolve));
    sample();
    steps.push(process.memoryUsage().rss);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  sample();
  global.gc?.();
  const after = process.memoryUsage();
  finish({ activateMs, firstAllMs, renders: renders.length, rss: after.rss, peakRss, heapUsed: after.heapUsed, counted: steps.length, loads });
});
`;

export interface ChildResult {
  requireMs: number;
  activateMs: number;
  errors: string[];
  firstMs?: number;
  /** Rows (confirmed or as recorded) in the first answer, and when an answer first listed every task. */
  firstListed?: number;
  firstListedMs?: number;
  firstAllMs?: number;
  /** CPU time (user + system) of the host from activate() to that answer: less swayed by a busy machine than the wall clock. */
  firstAllCpuMs?: number;
  renders?: number;
  rss?: number;
  peakRss?: number;
  heapUsed?: number;
  counted?: number;
  loads?: { core?: { at: number; took: number }; dockerode?: { at: number; took: number } };
}

export function standInHost(bundle: string, folder: string, mode: 'render' | 'memory' | 'floor', wanted: number, stateDir: string, nodeArgs: string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // --expose-gc: heapUsed is read after a collection, so it is what is kept, not garbage not yet collected.
    const process_ = spawn(process.execPath, ['--expose-gc', ...nodeArgs, '-e', CHILD, bundle, folder, mode, String(wanted)], { env: { ...process.env, AIRLOCK_STATE_DIR: stateDir, AIRLOCK_DAEMON: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    process_.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    process_.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => process_.kill('SIGKILL'), 120_000);
    process_.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`extension host stand-in exited ${code}: ${stderr}`));
      const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildResult;
      if (result.errors.length) return reject(new Error(`the extension logged errors: ${result.errors.join('; ')}`));
      resolve(result);
    });
  });
}

async function runs(count: number, work: () => Promise<ChildResult>): Promise<ChildResult[]> {
  const results: ChildResult[] = [];
  for (let index = 0; index < count; index++) results.push(await work());
  return results;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const values = (results: ChildResult[], key: 'activateMs' | 'firstMs' | 'firstListedMs' | 'firstAllMs' | 'firstAllCpuMs' | 'requireMs') => results.map((result) => result[key] ?? -1);
const loadAt = (results: ChildResult[], name: 'core' | 'dockerode', key: 'at' | 'took') => results.map((result) => result.loads?.[name]?.[key] ?? -1).filter((value) => value >= 0);

function workspace(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ext-ws-'));
  fs.writeFileSync(path.join(root, '.airlock.json'), '{ "resources": { "ttlSeconds": 3600 } }\n');
  fs.mkdirSync(path.join(root, 'src'));
  for (let index = 0; index < 20; index++) fs.writeFileSync(path.join(root, 'src', `file${index}.ts`), `export const value${index} = ${index};\n`);
  return root;
}

/**
 * Starts the tasks in a state folder of its own (the hosts see nothing else), renders with 20 and
 * with none, then stops ten and measures memory with the other ten, then with one.
 */
export async function benchExtension(engine: EngineConnection, image: string, root = process.cwd(), dist = path.join(root, 'dist')): Promise<string[]> {
  const bundle = path.join(dist, 'extension.js');
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const folder = workspace();
  const empty = path.join(folder, 'empty-extension.js');
  fs.writeFileSync(empty, 'exports.activate = () => undefined;\n');
  const emptyState = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ext-empty-'));
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-ext-state-'));
  const service = new TaskService(engine, new TaskStore(stateDir));
  const started: string[] = [];
  const changes = new ChangeService(service);
  try {
    const startedAt = Date.now();
    for (let index = 0; index < RENDER_TASKS; index++) {
      const task = await service.start({ workspace: folder, image, ttlSeconds: 3600 });
      started.push(task.id);
      if (index < WITH_CHANGE_SET) {
        await service.exec(task.id, { argv: ['sh', '-c', `echo changed >> src/file${index}.ts`] });
        await changes.changes(task.id);
      }
    }
    const startMs = Date.now() - startedAt;
    // Interleaved, so that a busy spell on the machine weighs on both sides alike.
    const render: ChildResult[] = [];
    const none: ChildResult[] = [];
    for (let index = 0; index < RUNS; index++) {
      render.push(await standInHost(bundle, folder, 'render', RENDER_TASKS, stateDir));
      none.push(await standInHost(bundle, folder, 'render', 0, emptyState));
    }
    const floor = await runs(MEMORY_RUNS, () => standInHost(empty, folder, 'floor', 0, emptyState));
    for (const id of started.splice(MEMORY_TASKS)) await service.stop(id);
    const memory = await runs(MEMORY_RUNS, () => standInHost(bundle, folder, 'memory', MEMORY_TASKS, stateDir));
    // One task through the same steps: what loads once (the look's code, the exec streams) apart from what each task adds.
    for (const id of started.splice(1)) await service.stop(id);
    const oneMemory = await runs(MEMORY_RUNS, () => standInHost(bundle, folder, 'memory', 1, stateDir));
    const noneMemory = await runs(MEMORY_RUNS, () => standInHost(bundle, folder, 'memory', 0, emptyState));
    const row = (name: string, list: number[]) => `| ${name} | ${ms(median(list))} | ${ms(percentile(list, 90))} |`;
    const first = median(values(render, 'firstAllMs'));
    const firstNone = median(values(none, 'firstAllMs'));
    const listed = median(values(render, 'firstListedMs'));
    const memRow = (name: string, list: ChildResult[]) =>
      `| ${name} | ${mb(median(list.map((result) => result.peakRss ?? 0)))} | ${mb(median(list.map((result) => result.rss ?? 0)))} | ${mb(median(list.map((result) => result.heapUsed ?? 0)))} |`;
    const peak = median(memory.map((result) => result.peakRss ?? 0));
    const floorPeak = median(floor.map((result) => result.peakRss ?? 0));
    const nonePeak = median(noneMemory.map((result) => result.peakRss ?? 0));
    const onePeak = median(oneMemory.map((result) => result.peakRss ?? 0));
    return [
      `## Extension: Tasks view first render and host memory (${RUNS} fresh stand-in hosts each; ${RENDER_TASKS} real tasks on ${image}, ${WITH_CHANGE_SET} with a change set, started in ${(startMs / 1000).toFixed(0)} s)`,
      '',
      '| from activate() | p50 | p90 |',
      '|---|---|---|',
      row('activate() returns', values(render, 'activateMs')),
      row('core.js loaded (after activate returned)', loadAt(render, 'core', 'at').map((at, index) => at + (loadAt(render, 'core', 'took')[index] ?? 0))),
      row('dockerode.js loaded (first engine connection)', loadAt(render, 'dockerode', 'at').map((at, index) => at + (loadAt(render, 'dockerode', 'took')[index] ?? 0))),
      row(`first getChildren() answer (before the engine answered; ${median(render.map((result) => result.firstListed ?? 0))} rows)`, values(render, 'firstMs')),
      row(`**first answer listing all ${RENDER_TASKS} tasks** (as recorded, "checking with the engine…" until it answers)`, values(render, 'firstListedMs')),
      row(`**first answer with all ${RENDER_TASKS} tasks confirmed by the engine**`, values(render, 'firstAllMs')),
      row('  the same, host CPU time (user + system)', values(render, 'firstAllCpuMs')),
      row('baseline: first answer with the engine connected, empty state folder', values(none, 'firstAllMs')),
      row('  the same, host CPU time', values(none, 'firstAllCpuMs')),
      `| the first host of the run, before any code cache of core.js (a fresh install or update): all listed / confirmed | ${ms(render[0]?.firstListedMs ?? -1)} | ${ms(render[0]?.firstAllMs ?? -1)} |`,
      '',
      `${RENDER_TASKS} tasks listed against the 200 ms goal: ${(listed / 200).toFixed(2)}×; confirmed: ${(first / 200).toFixed(2)}×, against no tasks in the same run ${(first / Math.max(0.01, firstNone)).toFixed(2)}× ` +
        `(${ms(first - firstNone)} for ${RENDER_TASKS} tasks); require(dist/core.js) took ${ms(median(loadAt(render, 'core', 'took')))}, require(dist/dockerode.js) ${ms(median(loadAt(render, 'dockerode', 'took')))}; ` +
        `root renders per host until confirmed: ${median(render.map((result) => result.renders ?? 0))}`,
      '',
      `| host process (${MEMORY_RUNS} each) | peak rss | rss at end | heapUsed after GC |`,
      '|---|---|---|---|',
      memRow(`Airlock, ${MEMORY_TASKS} live tasks (+${RENDER_TASKS - MEMORY_TASKS} ended): rendered, every task expanded, Count Changes on each (${memory[0]?.counted ?? 0} refreshes)`, memory),
      memRow(`Airlock, 1 live task (+${RENDER_TASKS - 1} ended): the same steps`, oneMemory),
      memRow('Airlock, no tasks: activated, rendered', noneMemory),
      memRow('floor: the same stand-in host with a do-nothing extension', floor),
      '',
      `peak rss with ${MEMORY_TASKS} tasks: ${mb(peak - floorPeak)} over the do-nothing host (${(peak / Math.max(1, floorPeak)).toFixed(2)}×), ${mb(peak - nonePeak)} over Airlock with no tasks, ${mb(peak - onePeak)} over one task (${mb((peak - onePeak) / (MEMORY_TASKS - 1))} per further task); ` +
        'a real extension host also holds VS Code itself and every other extension, so this is what Airlock adds, not the whole process',
    ];
  } finally {
    for (const id of started) await service.stop(id).catch(() => undefined);
    service.dispose();
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(folder, { recursive: true, force: true });
    fs.rmSync(emptyState, { recursive: true, force: true });
  }
}
