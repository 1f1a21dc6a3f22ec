/**
 * `npm run bench -- load [tasks] [commands]`: the reliability issue's load run. N tasks at once
 * (10 by default) on this machine, each with its own workspace, running M commands (100 by
 * default) through the task's runner, with output from a few bytes up to 10 MB on stdout and
 * stderr, then a change set and an apply to the host. Half the tasks have an allowlist network, so
 * a detached egress gateway runs beside each of those. Then it checks what a long session must
 * never show: a lost, short or interleaved byte of output (each line names its task and command,
 * and the byte counts must match), a host file the apply got wrong, and anything left behind once
 * every task is stopped (containers, volumes, gateway processes, sockets). The Airlock process's
 * peak RSS is sampled throughout. Prints figures; not a test.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeService } from '../src/core/changes/changeService.js';
import { detachedGatewayLauncher } from '../src/core/egress/gatewayLauncher.js';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import type { TaskRecord } from '../src/core/state/taskRecord.js';
import { TaskStore } from '../src/core/state/taskStore.js';
import { TaskService } from '../src/core/task/taskService.js';
import { percentile } from './stats.js';

const MB = 1024 * 1024;
/** Output sizes in a cycle: mostly small, a few large, one in 25 the 10 MB the issue names. */
const SIZES = [40, 1024, 16 * 1024, 200, 64 * 1024, 4096, 1024, 512 * 1024, 100, 10 * MB, 2048, 300, 8192, 1024, 128, 256 * 1024, 64, 1024, 32 * 1024, 500, 2 * MB, 1024, 700, 4096, 90];

interface TaskLoad {
  record: TaskRecord;
  workspace: string;
  commandMs: number[];
  bytes: number;
  problems: string[];
  diffMs: number;
  applyMs: number;
}

/** The line command `i` of task `t` prints, over and over; `yes` keeps the box's CPU low. */
const lineOf = (task: number, command: number, stream: 'o' | 'e') => `t${task} c${command} ${stream} ${'x'.repeat(20)}`;

/**
 * Checks a stream as it arrives, holding only the current line: every line is this command's own
 * and the byte count is exact. The bench must not hold 10 MB outputs itself, or its RSS would
 * measure the bench instead of Airlock.
 */
class StreamCheck {
  private bytes = 0;
  private partial = '';
  private broken?: string;
  constructor(private readonly expected: string, private readonly size: number, private readonly where: string) {}

  take = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    if (this.broken) return;
    const lines = (this.partial + chunk.toString('latin1')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line !== this.expected) {
        this.broken = `a foreign or broken line ${JSON.stringify(line.slice(0, 60))}`;
        return;
      }
    }
    if (this.partial.length > this.expected.length) this.broken = 'a line longer than any the command prints';
  };

  problems(): string[] {
    if (this.bytes !== this.size) return [`${this.where}: ${this.bytes} bytes, expected ${this.size}`];
    if (this.broken) return [`${this.where}: ${this.broken}`];
    if (!`${this.expected}\n`.startsWith(this.partial)) return [`${this.where}: a broken last line ${JSON.stringify(this.partial.slice(0, 60))}`];
    return [];
  }
}

function workspaceFor(index: number): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `airlock-load-${index}-`));
  for (let file = 0; file < 50; file++) {
    fs.mkdirSync(path.join(root, `d${file % 5}`), { recursive: true });
    fs.writeFileSync(path.join(root, `d${file % 5}`, `f${file}.txt`), `task ${index} file ${file}\n`);
  }
  return root;
}

async function loadOneTask(service: TaskService, image: string, index: number, commands: number): Promise<TaskLoad> {
  const workspace = workspaceFor(index);
  // Every other task has a network: its egress gateway is a detached process that must not outlive it.
  const networked = index % 2 === 1 ? { egress: { agent: { allow: [`load-${index}.example.test`], allowCidr: [], deny: [] } } } : {};
  const record = await service.start({ workspace, image, ttlSeconds: 3600, ...networked });
  const load: TaskLoad = { record, workspace, commandMs: [], bytes: 0, problems: [], diffMs: 0, applyMs: 0 };
  for (let command = 0; command < commands; command++) {
    const size = SIZES[(command + index) % SIZES.length];
    const out1 = lineOf(index, command, 'o');
    const err1 = lineOf(index, command, 'e');
    const stdout = new StreamCheck(out1, size, `task ${index} command ${command} stdout`);
    const stderr = new StreamCheck(err1, Math.ceil(size / 4), `task ${index} command ${command} stderr`);
    const started = process.hrtime.bigint();
    const result = await service.exec(record.id, {
      argv: ['sh', '-c', `yes '${out1}' | head -c ${size}; yes '${err1}' | head -c ${Math.ceil(size / 4)} >&2; exit ${command % 7}`],
      onStdout: stdout.take,
      onStderr: stderr.take,
    });
    load.commandMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (result.exitCode !== command % 7) load.problems.push(`command ${command}: exit ${result.exitCode}, expected ${command % 7}`);
    load.problems.push(...stdout.problems(), ...stderr.problems());
    load.bytes += size + Math.ceil(size / 4);
  }
  const exec = await service.exec(record.id, { argv: ['sh', '-c', 'for i in $(seq 0 19); do echo "box edit $i" > d$((i % 5))/f$i.txt; done; echo new > added.txt'] });
  if (exec.exitCode !== 0) load.problems.push(`task ${index}: the edits failed (${exec.exitCode})`);
  const changes = new ChangeService(service);
  let started = process.hrtime.bigint();
  const taken = await changes.changes(record.id);
  load.diffMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (taken.changeSet.files.length !== 21) load.problems.push(`task ${index}: ${taken.changeSet.files.length} changes, expected 21`);
  started = process.hrtime.bigint();
  await changes.apply(record.id, {}, { changes: taken });
  load.applyMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (let file = 0; file < 20; file++) {
    const text = fs.readFileSync(path.join(workspace, `d${file % 5}`, `f${file}.txt`), 'utf8');
    if (text !== `box edit ${file}\n`) load.problems.push(`task ${index}: host f${file}.txt holds ${JSON.stringify(text)}`);
  }
  if (fs.readFileSync(path.join(workspace, 'added.txt'), 'utf8') !== 'new\n') load.problems.push(`task ${index}: added.txt not applied`);
  return load;
}

/** Gateway processes of these tasks still running (`cli.js gateway ID`). */
function gatewayProcesses(ids: readonly string[]): string[] {
  const listing = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout;
  return listing.split('\n').filter((line) => / gateway [0-9a-f]{12}/.test(line) && ids.some((id) => line.includes(id)));
}

export async function benchLoad(engine: EngineConnection, image: string, options: { tasks?: number; commands?: number } = {}): Promise<string[]> {
  const tasks = options.tasks ?? 10;
  const commands = options.commands ?? 100;
  const store = new TaskStore(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-load-state-')));
  const cli = path.resolve('dist/cli.js');
  if (!fs.existsSync(cli)) throw new Error('dist/cli.js is missing: `npm run build` first (the gateways run from it)');
  const service = new TaskService(engine, store, () => undefined, { gateway: detachedGatewayLauncher(store, [process.execPath, cli]) });
  const floor = process.memoryUsage().rss;
  let peak = floor;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const started = process.hrtime.bigint();
  const results = await Promise.allSettled(Array.from({ length: tasks }, (_, index) => loadOneTask(service, image, index, commands)));
  const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  const loads = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message ?? result.reason)] : []));
  const ids = store.ids();
  for (const id of ids) await service.stop(id).catch((error: Error) => failures.push(`stop ${id}: ${error.message}`));
  // The engine and the gateways let go in their own time; give them a moment before counting.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const containers = (await Promise.all(ids.map((id) => engine.docker.listContainers({ all: true, filters: { label: [`airlock.task=${id}`] } })))).flat();
  const volumes = (await Promise.all(ids.map(async (id) => (await engine.docker.listVolumes({ filters: { label: [`airlock.task=${id}`] } })).Volumes ?? []))).flat();
  const gateways = gatewayProcesses(ids);
  const sockets = ids.filter((id) => fs.existsSync(store.gatewayFiles(id).socket));
  service.dispose();
  for (const load of loads) fs.rmSync(load.workspace, { recursive: true, force: true });

  const problems = [...failures, ...loads.flatMap((load) => load.problems)];
  const commandMs = loads.flatMap((load) => load.commandMs);
  const bytes = loads.reduce((sum, load) => sum + load.bytes, 0);
  const out = [`Load (issue 19): ${tasks} tasks at once, ${commands} commands each (output up to 10 MB per command), then a change set and an apply; ${Math.round(tasks / 2)} with an egress gateway`];
  out.push(`  ${'wall time, all tasks'.padEnd(44)}${(totalMs / 1000).toFixed(1).padStart(8)} s`);
  out.push(`  ${'commands run'.padEnd(44)}${String(commandMs.length).padStart(8)}   ${(commandMs.length / (totalMs / 1000)).toFixed(1)} per s`);
  out.push(`  ${'command round trip p50 / p90 / max'.padEnd(44)}${percentile(commandMs, 50).toFixed(0).padStart(8)} / ${percentile(commandMs, 90).toFixed(0)} / ${Math.max(...commandMs).toFixed(0)} ms`);
  out.push(`  ${'output carried and checked'.padEnd(44)}${(bytes / MB).toFixed(0).padStart(8)} MB   ${(bytes / MB / (totalMs / 1000)).toFixed(1)} MB/s`);
  out.push(`  ${'change set (21 files) p50, under load'.padEnd(44)}${percentile(loads.map((load) => load.diffMs), 50).toFixed(0).padStart(8)} ms`);
  out.push(`  ${'apply (21 files) p50, under load'.padEnd(44)}${percentile(loads.map((load) => load.applyMs), 50).toFixed(0).padStart(8)} ms`);
  out.push(`  ${'Airlock process peak RSS (over its floor)'.padEnd(44)}${(peak / MB).toFixed(0).padStart(8)} MB (${((peak - floor) / MB).toFixed(0)} MB)`);
  out.push(`  ${'lost, short or interleaved output; bad applies'.padEnd(44)}${String(problems.length).padStart(8)}${problems.length ? `: ${problems.slice(0, 5).join('; ')}` : ''}`);
  out.push(`  ${'left after stop: containers, volumes'.padEnd(44)}${String(containers.length).padStart(8)}, ${volumes.length}`);
  out.push(`  ${'left after stop: gateway processes, sockets'.padEnd(44)}${String(gateways.length).padStart(8)}, ${sockets.length}`);
  return out;
}
