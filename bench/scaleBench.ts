/**
 * `npm run bench -- scale [large] [small]`: the performance issue's scale report. One generated
 * tree per size (100k files / ~1 GB and 10k files / ~100 MB by default, ~10 KB text files in
 * folders of 100), and on each, in one run:
 * - task start: the naive private copy (`docker create` + `docker cp` + `docker start`), a first
 *   start (fresh state folder, no base yet) and repeat starts (same state folder, ~20 files edited
 *   on the host before each);
 * - the change set for 20 changed files: a look with a new scanner (`scannerSessions.closeAll()`
 *   first) and with the kept one, `airlock diff --json` as its own process, and copying the whole
 *   workspace out (the engine's archive endpoint, what `docker cp` does);
 * - 1,000 more changed files (edits, adds, deletes under data/): the change set, `apply(id, {})`
 *   (a fresh look, then the host writes), undo, and the write alone from the held change set, each
 *   checked against the box (file count, and 20 files' bytes).
 * Ratios are taken within the run: absolute times drift by 2× on this shared 2-core machine.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ChangeService, type TaskChanges } from '../src/core/changes/changeService.js';
import { scannerSessions } from '../src/core/changes/scannerSessions.js';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import type { TaskRecord } from '../src/core/state/taskRecord.js';
import { TaskStore } from '../src/core/state/taskStore.js';
import { STATE_LABEL } from '../src/core/task/workspaceLayers.js';
import { TaskService } from '../src/core/task/taskService.js';
import { median } from './stats.js';

const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const FILE_BYTES = 10 * 1024;
const PER_FOLDER = 100;
const LOOKS = 3;
/** Files the picks below need: 40 host edits, 20 and then 1,000 box changes (of which 800 pick a file). */
const MIN_FILES = 1000;
/** Shell commands per exec: one argv string stays far below Linux's 128 KiB per-argument cap. */
const COMMANDS_PER_EXEC = 200;

const elapsed = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6;

async function timed(work: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return elapsed(start);
}

function docker(args: string[]): string {
  const result = spawnSync(DOCKER, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker ${args[0]} failed: ${result.stderr}`);
  return result.stdout.trim();
}

const rel = (index: number) => `data/d${String(Math.floor(index / PER_FOLDER)).padStart(4, '0')}/f${String(index).padStart(6, '0')}.txt`;

/** Printable lines from a fixed xorshift seed: text (so diffs are textual), the same every run. */
function textPool(bytes: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 ';
  const pool = Buffer.alloc(bytes);
  let state = 0x9e3779b9;
  for (let at = 0; at < bytes; at++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    pool[at] = at % 80 === 79 ? 0x0a : alphabet.charCodeAt((state >>> 0) % alphabet.length);
  }
  return pool;
}

const POOL = textPool(4 * 1024 * 1024);

/** File `index` as generated: a header naming it, then a slice of the pool that differs per file. */
function original(index: number): Buffer {
  const header = Buffer.from(`file ${index}\n`);
  const offset = ((index * 7919) % ((POOL.length - FILE_BYTES) / 80)) * 80;
  return Buffer.concat([header, POOL.subarray(offset, offset + FILE_BYTES - header.length)]);
}

function generate(files: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-scale-'));
  for (let index = 0; index < files; index++) {
    if (index % PER_FOLDER === 0) fs.mkdirSync(path.dirname(path.join(root, rel(index))), { recursive: true });
    fs.writeFileSync(path.join(root, rel(index)), original(index));
  }
  return root;
}

/** `count` file indexes spread over the tree, none already in `taken` (which they join). */
function spread(count: number, files: number, taken: Set<number>, seed: number): number[] {
  if (taken.size + count > files) throw new Error(`scale: ${files} files are too few for the changes picked (at least ${MIN_FILES})`);
  const picked: number[] = [];
  const stride = Math.floor(files / count) || 1;
  for (let step = 0; picked.length < count; step++) {
    let index = (seed + step * stride) % files;
    while (taken.has(index)) index = (index + 1) % files;
    taken.add(index);
    picked.push(index);
  }
  return picked;
}

/** Base volumes a throwaway state folder made (startBench's dropBases, which is not exported). */
async function dropBases(engine: EngineConnection, stateRoot: string): Promise<void> {
  const volumes = (await engine.docker.listVolumes({ filters: { label: [`${STATE_LABEL}=${stateRoot}`] } })).Volumes ?? [];
  for (const volume of volumes) await engine.docker.getVolume(volume.Name).remove().catch(() => undefined);
}

/** Bytes on disk under a folder (du), or undefined when it cannot be read from here. */
function diskBytes(folder: string): number | undefined {
  const result = spawnSync('du', ['-sb', folder], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.split('\t')[0]) : undefined;
}

async function volumeBytes(engine: EngineConnection, stateRoot: string): Promise<number | undefined> {
  const volumes = (await engine.docker.listVolumes({ filters: { label: [`${STATE_LABEL}=${stateRoot}`] } })).Volumes ?? [];
  let total = 0;
  for (const volume of volumes) {
    const bytes = diskBytes(volume.Mountpoint);
    if (bytes === undefined) return undefined;
    total += bytes;
  }
  return total;
}

/** Where the state folder's bytes are: per task, and within the live one per entry of 1 MB or more. */
function stateBreakdown(state: string, live: string): string {
  const tasks = path.join(state, 'tasks');
  const perTask = fs.readdirSync(tasks).map((id) => `${id === live ? 'live task' : 'ended task'} ${mb(diskBytes(path.join(tasks, id)))}`);
  const inLive = fs
    .readdirSync(path.join(tasks, live))
    .map((name) => [name, diskBytes(path.join(tasks, live, name)) ?? 0] as const)
    .filter(([, bytes]) => bytes >= 1024 * 1024)
    .map(([name, bytes]) => `${name} ${mb(bytes)}`);
  return `${perTask.join(', ')} (live task: ${inLive.join(', ')})`;
}

const mb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);
const peakRss = () => `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`;

async function run(service: TaskService, id: string, script: string): Promise<string> {
  const out: Buffer[] = [];
  const result = await service.exec(id, { argv: ['sh', '-c', script], onStdout: (chunk) => out.push(chunk) });
  if (result.exitCode !== 0) throw new Error(`in the box, \`${script.slice(0, 80)}…\` exited ${result.exitCode}`);
  return Buffer.concat(out).toString('utf8');
}

async function runAll(service: TaskService, id: string, commands: string[]): Promise<void> {
  for (let at = 0; at < commands.length; at += COMMANDS_PER_EXEC) await run(service, id, commands.slice(at, at + COMMANDS_PER_EXEC).join(' && '));
}

async function boxFile(service: TaskService, id: string, file: string): Promise<Buffer> {
  const out: Buffer[] = [];
  const result = await service.exec(id, { argv: ['cat', file], onStdout: (chunk) => out.push(chunk) });
  if (result.exitCode !== 0) throw new Error(`cat ${file} in the box exited ${result.exitCode}`);
  return Buffer.concat(out);
}

function hostFileCount(root: string): number {
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;
}

const boxFileCount = async (service: TaskService, id: string) => Number((await run(service, id, 'find . -type f | wc -l')).trim());

/** Host and box agree on the file count and on the bytes of `sample` (missing on both counts as equal). */
async function sameAsBox(service: TaskService, task: TaskRecord, sample: string[]): Promise<string> {
  const host = hostFileCount(task.workspace);
  const box = await boxFileCount(service, task.id);
  let equal = 0;
  for (const file of sample) {
    const onHost = fs.existsSync(path.join(task.workspace, file)) ? fs.readFileSync(path.join(task.workspace, file)) : undefined;
    const inBox = (await run(service, task.id, `test -e '${file}' && echo yes || echo no`)).trim() === 'yes' ? await boxFile(service, task.id, file) : undefined;
    if (onHost === inBox || (onHost && inBox && onHost.equals(inBox))) equal++;
  }
  const ok = host === box && equal === sample.length;
  return `${ok ? 'ok' : 'MISMATCH'}: host ${host} files, box ${box}; ${equal}/${sample.length} sampled files equal`;
}

interface SizeFigures {
  files: number;
  naive: number;
  first: number;
  look0: number;
  repeat: number[];
  cold: number[];
  warm: number[];
  cli: number[];
  cliRss: number[];
  copy: number;
  copyBytes: number;
  bigDiff: number[];
  apply: number;
  undo: number;
  write: number;
  rows: string[];
}

async function benchSize(engine: EngineConnection, image: string, files: number): Promise<SizeFigures> {
  const rows: string[] = [];
  const note = (line: string) => {
    rows.push(line);
    process.stderr.write(`scale: ${line.trim()}\n`);
  };
  const generatedMs = Date.now();
  const workspace = generate(files);
  note(`  generated ${files} files / ${mb(files * FILE_BYTES)} in ${((Date.now() - generatedMs) / 1000).toFixed(0)} s; peak RSS ${peakRss()}`);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-scale-state-'));
  const service = new TaskService(engine, new TaskStore(state));
  const changes = new ChangeService(service);
  const taken = new Set<number>();
  let task: TaskRecord | undefined;
  try {
    let container = '';
    const naive = await timed(() => {
      container = docker(['create', '--network', 'none', image, 'sleep', '600']);
      docker(['cp', `${workspace}/.`, `${container}:/workspace`]);
      docker(['start', container]);
    });
    docker(['rm', '-f', container]);

    let id = '';
    const first = await timed(async () => (id = (await service.start({ workspace, image })).id));
    await service.stop(id);
    note(`  after the first start: state folder ${mb(diskBytes(state))}, base volume(s) ${mb(await volumeBytes(engine, state))}; peak RSS ${peakRss()}`);
    const repeat: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (const index of spread(20, files, taken, 3 + round)) fs.appendFileSync(path.join(workspace, rel(index)), `host edit ${round}\n`);
      repeat.push(await timed(async () => (task = await service.start({ workspace, image }))));
      if (round === 0) await service.stop(task!.id);
    }
    const live = task!;

    // 20 changes in the box: 10 edited, 5 new, 5 deleted, spread over the tree.
    const edited = spread(10, files, taken, 17);
    const removed = spread(5, files, taken, 29);
    const added = Array.from({ length: 5 }, (_, i) => rel(edited[i]).replace(/f(\d+)\.txt$/, `new${i}.txt`));
    await runAll(service, live.id, [...edited.map((i) => `echo changed >> ${rel(i)}`), ...added.map((file) => `echo new > ${file}`), ...removed.map((i) => `rm ${rel(i)}`)]);
    let firstLook: TaskChanges | undefined;
    const look0 = await timed(async () => (firstLook = await changes.changes(live.id)));
    if (firstLook!.changeSet.files.length !== 20) throw new Error(`expected 20 changes, found ${firstLook!.changeSet.files.length}`);
    const cold: number[] = [];
    for (let look = 0; look < LOOKS; look++) {
      scannerSessions.closeAll();
      cold.push(await timed(() => changes.changes(live.id)));
    }
    const warm: number[] = [];
    for (let look = 0; look < LOOKS; look++) warm.push(await timed(() => changes.changes(live.id)));
    const cliPath = path.resolve('dist/cli.js');
    const cli: number[] = [];
    const cliRss: number[] = [];
    for (let look = 0; look < LOOKS; look++) {
      const [command, ...args] = [...(GNU_TIME ? [GNU_TIME, '-f', '%M'] : []), process.execPath, cliPath, 'diff', live.id, '--json'];
      let result: ReturnType<typeof spawnSync> | undefined;
      cli.push(await timed(() => (result = spawnSync(command, args, { env: { ...process.env, AIRLOCK_STATE_DIR: state, AIRLOCK_DAEMON: '0' }, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }))));
      if (result!.status !== 0) throw new Error(`airlock diff --json failed (exit ${result!.status}): ${String(result!.stderr)}`);
      if (GNU_TIME) cliRss.push(Number(String(result!.stderr).trim().split('\n').pop()) * 1024);
    }
    let copyBytes = 0;
    const copy = await timed(async () => {
      const stream = (await engine.docker.getContainer(live.containerId).getArchive({ path: '/workspace/.' })) as unknown as Readable;
      for await (const chunk of stream) copyBytes += (chunk as Buffer).length;
    });
    note(`  after the 20-file looks: peak RSS ${peakRss()}`);

    // 1,000 more: 700 edited, 200 new, 100 deleted; none of them risky (plain .txt under data/).
    const bigEdited = spread(700, files, taken, 41);
    const bigRemoved = spread(100, files, taken, 53);
    const bigAdded = bigEdited.slice(0, 200).map((i, k) => rel(i).replace(/f(\d+)\.txt$/, `added${k}.txt`));
    await runAll(service, live.id, [...bigEdited.map((i) => `echo "edited in the box ${i}" >> ${rel(i)}`), ...bigAdded.map((file, k) => `printf 'added %s\\n' ${k} > ${file}`), ...bigRemoved.map((i) => `rm ${rel(i)}`)]);
    const expected = 20 + 1000;
    const bigDiff: number[] = [];
    let held = firstLook!;
    for (let look = 0; look < LOOKS; look++) bigDiff.push(await timed(async () => (held = await changes.changes(live.id))));
    if (held.changeSet.files.length !== expected) throw new Error(`expected ${expected} changes, found ${held.changeSet.files.length}`);
    const sample = [...bigEdited.slice(0, 8).map(rel), ...bigAdded.slice(0, 6), ...bigRemoved.slice(0, 6).map(rel)];
    let applied = 0;
    const apply = await timed(async () => (applied = (await changes.apply(live.id, {})).report.written.length));
    note(`  apply(id, {}) wrote ${applied} of ${expected}; ${await sameAsBox(service, live, sample)}`);
    let restored = 0;
    const undo = await timed(async () => (restored = (await changes.undo(live.id)).restored.length));
    const back = bigEdited.slice(0, 10).filter((i) => fs.readFileSync(path.join(workspace, rel(i))).equals(original(i))).length + bigRemoved.slice(0, 10).filter((i) => fs.existsSync(path.join(workspace, rel(i)))).length + bigAdded.slice(0, 10).filter((file) => !fs.existsSync(path.join(workspace, file))).length;
    note(`  undo restored ${restored}; host ${hostFileCount(workspace)} files (as generated: ${files}); ${back}/30 sampled files back as generated`);
    const write = await timed(async () => (applied = (await changes.apply(live.id, {}, { changes: held })).report.written.length));
    note(`  apply of the held change set wrote ${applied}; ${await sameAsBox(service, live, sample)}; peak RSS ${peakRss()}`);
    note(`  state folder after the applies ${mb(diskBytes(state))}: ${stateBreakdown(state, live.id)}`);
    return { files, naive, first, look0, repeat, cold, warm, cli, cliRss, copy, copyBytes, bigDiff, apply, undo, write, rows };
  } finally {
    if (task) await service.stop(task.id).catch(() => undefined);
    scannerSessions.closeAll();
    service.dispose();
    await dropBases(engine, state);
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

const ms = (value: number) => `${value.toFixed(0)} ms`;
const times = (values: number[]) => values.map(ms).join(', ');

export async function benchScale(engine: EngineConnection, image: string, { large = 100_000, small = 10_000 } = {}): Promise<string[]> {
  const cliPath = path.resolve('dist/cli.js');
  const stale = !fs.existsSync(cliPath) ? 'missing' : spawnSync('find', ['src', '-name', '*.ts', '-newer', cliPath], { encoding: 'utf8' }).stdout.trim() ? 'older than src (run `npm run build`)' : '';
  const sizes = small > 0 && small < large ? [small, large] : [large];
  const figures: SizeFigures[] = [];
  for (const files of sizes) figures.push(await benchSize(engine, image, files));
  const out: string[] = [];
  const row = (name: string, value: number, base?: number, extra = '') => `  ${name.padEnd(52)}${ms(value).padStart(10)}${base ? `${(value / base).toFixed(2)}×`.padStart(10) : ''.padStart(10)}${extra ? `   ${extra}` : ''}`;
  for (const f of figures) {
    const label = `${f.files} files / ${mb(f.files * FILE_BYTES)} in ${f.files / PER_FOLDER} folders`;
    out.push(`\nScale, ${label} (one run each unless noted; × = against the naive copy for starts, against the whole copy-out for looks)`);
    out.push(row('naive private copy: docker create + cp + start', f.naive, f.naive));
    out.push(row('API, first start (fresh state folder, no base)', f.first, f.naive, 'goal ≤ 1000 ms'));
    out.push(row(`API, repeat start (20 host edits before; p50 of ${f.repeat.length})`, median(f.repeat), f.naive, `goal ≤ 400 ms   (${times(f.repeat)})`));
    out.push(row('whole copy-out (getArchive /workspace/., consumed)', f.copy, f.copy, mb(f.copyBytes)));
    out.push(row('change set, 20 files, first look after the start', f.look0, f.copy));
    out.push(row(`change set, 20 files, new scanner (p50 of ${LOOKS})`, median(f.cold), f.copy, `(${times(f.cold)})`));
    out.push(row(`change set, 20 files, kept scanner (p50 of ${LOOKS})`, median(f.warm), f.copy, `goal ≤ 150 ms   (${times(f.warm)})`));
    out.push(row(`\`airlock diff --json\` CLI, 20 files (p50 of ${LOOKS})`, median(f.cli), f.copy, `(${times(f.cli)})${f.cliRss.length ? `; CLI peak RSS ${mb(Math.max(...f.cliRss))}` : ''}`));
    out.push(row(`change set, 1,020 files (p50 of ${LOOKS}, kept scanner)`, median(f.bigDiff), f.copy, `(${times(f.bigDiff)})`));
    out.push(row('apply(id, {}), 1,020 files (fresh look + writes)', f.apply, f.copy));
    out.push(row('undo of that apply', f.undo, f.copy));
    out.push(row('apply of the held change set (writes only)', f.write, f.copy));
    out.push(...f.rows);
  }
  if (figures.length === 2) {
    const [s, l] = figures;
    const grow = (name: string, pick: (f: SizeFigures) => number) => `  ${name.padEnd(52)}${`${(pick(l) / pick(s)).toFixed(2)}×`.padStart(10)}`;
    out.push(`\nGrowth, ${l.files} against ${s.files} files (the work grows ${(l.files / s.files).toFixed(0)}×; flat is 1.00×)`);
    out.push(grow('naive private copy', (f) => f.naive));
    out.push(grow('API, first start', (f) => f.first));
    out.push(grow('API, repeat start (same 20 host edits)', (f) => median(f.repeat)));
    out.push(grow('whole copy-out', (f) => f.copy));
    out.push(grow('change set, 20 files, first look after the start', (f) => f.look0));
    out.push(grow('change set, 20 files, new scanner', (f) => median(f.cold)));
    out.push(grow('change set, 20 files, kept scanner', (f) => median(f.warm)));
    out.push(grow('`airlock diff --json` CLI, 20 files', (f) => median(f.cli)));
    out.push(grow('change set, 1,020 files', (f) => median(f.bigDiff)));
    out.push(grow('apply(id, {}), 1,020 files', (f) => f.apply));
    out.push(grow('undo, 1,020 files', (f) => f.undo));
    out.push(grow('apply of the held change set', (f) => f.write));
  }
  out.push(`\n  bench process peak RSS (process.resourceUsage().maxRSS): ${peakRss()}${stale ? `; dist/cli.js ${stale}` : ''}`);
  return out;
}
