/**
 * Egress through the in-task relay and host gateway, side by side in one run with the same curl
 * going direct on the host and with the engine's exec stream alone (egress issues). Targets:
 * added latency per connection ≤ 5 ms p50; one download ≥ 60% of the exec stream's ceiling; four
 * parallel downloads ≥ 2.5× one. Each row also shows how busy the machine's CPUs were while it
 * ran (100% is every core): a row that fills them cannot go faster by running more at once.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from './stats.js';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import { hostGateway, type HostedGateway } from '../src/core/gateway/gatewayHost.js';
import { TaskService } from '../src/core/task/taskService.js';
import { TaskStore } from '../src/core/state/taskStore.js';

const DOWNLOAD_BYTES = 200 * 1024 * 1024;
const LATENCY_RUNS = 40;
const DOWNLOAD_RUNS = 5;
const PARALLEL = 4;
const NAME = 'origin.bench.test';

/** The origin runs in its own process, as a remote server would: it never shares the gateway's event loop. */
function origin(): Promise<{ port: number; close: () => void }> {
  const source = `const chunk = Buffer.alloc(256 * 1024, 0x61); const total = ${DOWNLOAD_BYTES};
  const server = require('http').createServer((request, response) => {
    if (request.url === '/small') return void response.end('ok\\n');
    response.writeHead(200, { 'content-length': String(total) });
    let sent = 0;
    const pump = () => { while (sent < total) { const piece = chunk.subarray(0, Math.min(chunk.length, total - sent)); sent += piece.length; if (!response.write(piece)) return void response.once('drain', pump); } response.end(); };
    pump();
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve({ port: Number(chunk.toString().trim()), close: () => child.kill() })));
}

/** curl's own timings, so neither side pays for starting a process or an engine exec. */
const latencyLoop = (url: string, extra: string) => `for i in $(seq ${LATENCY_RUNS + 1}); do curl -s ${extra} -o /dev/null -w '%{time_total}\\n' ${url}; done`;
/** `count` downloads at once; prints the nanoseconds from the first start to the last end, so the rate is the aggregate. */
const downloads = (url: string, extra: string, count: number) => `s=$(date +%s%N); for i in $(seq ${count}); do curl -sf ${extra} -o /dev/null ${url} & done; for job in $(jobs -p); do wait $job || exit 1; done; echo $(( $(date +%s%N) - s ))`;
const numbers = (text: string) => text.trim().split('\n').map(Number).filter((value) => Number.isFinite(value));

/** Share of all CPUs busy between two /proc/stat readings (Linux; undefined elsewhere). */
function cpuTimes(): { total: number; idle: number } | undefined {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.reduce((sum, value) => sum + value, 0), idle: fields[3] + fields[4] };
  } catch {
    return undefined;
  }
}

/** A rate in bytes per second, and the share of all CPUs busy while it was measured. */
interface Sample {
  value: number;
  busy?: number;
}

async function sample(measure: () => Promise<number>): Promise<Sample> {
  const before = cpuTimes();
  const value = await measure();
  const after = cpuTimes();
  const busy = before && after && after.total > before.total ? 1 - (after.idle - before.idle) / (after.total - before.total) : undefined;
  return { value, busy };
}

/** Bytes per second of 200 MB written into an engine exec's stdin: what any relay over the engine API is bounded by. */
async function rawExecStream(engine: EngineConnection, containerId: string): Promise<number> {
  const exec = await engine.docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', 'cat > /dev/null'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: true });
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const started = process.hrtime.bigint();
  const ended = new Promise<void>((resolve) => stream.on('end', resolve).on('close', resolve).resume());
  for (let sent = 0; sent < DOWNLOAD_BYTES; sent += chunk.length) {
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
  }
  stream.end();
  await ended;
  return DOWNLOAD_BYTES / (Number(process.hrtime.bigint() - started) / 1e9);
}

export async function benchEgress(engine: EngineConnection, image: string): Promise<string[]> {
  const server = await origin();
  const store = new TaskStore(fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-egress-')));
  let hosted: HostedGateway | undefined;
  const service = new TaskService(engine, store, () => undefined, {
    gateway: async (record, phase) => {
      hosted = await hostGateway({ engine, store, taskId: record.id, phase, resolve: async () => ['127.0.0.1'] });
    },
  });
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-bench-egress-ws-'));
  const record = await service.start({ workspace, image, egress: { agent: { allow: [NAME], allowCidr: ['127.0.0.1/32'] }, limits: { maxBytes: '10g' } } });
  try {
    const inTask = async (script: string) => {
      // Decoded once at the end: a character split across chunks stays whole.
      const out: Buffer[] = [];
      const result = await service.exec(record.id, { argv: ['bash', '-c', script], backend: 'docker-exec', onStdout: (chunk) => { out.push(chunk); } });
      if (result.exitCode !== 0) throw new Error(`bench command failed in the task: ${script}`);
      return Buffer.concat(out).toString('utf8');
    };
    // Asynchronous: the origin answers from this same process.
    const onHost = (script: string) =>
      new Promise<string>((resolve) => {
        const out: Buffer[] = [];
        const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        child.on('close', () => resolve(Buffer.concat(out).toString('utf8')));
      });
    const relayed = `http://${NAME}:${server.port}`;
    const direct = `http://127.0.0.1:${server.port}`;
    const gatewayLatency = numbers(await inTask(latencyLoop(`${relayed}/small`, ''))).slice(1).map((seconds) => seconds * 1000);
    const directLatency = numbers(await onHost(latencyLoop(`${direct}/small`, "--noproxy '*'"))).slice(1).map((seconds) => seconds * 1000);
    const rate = (count: number) => (text: string) => (count * DOWNLOAD_BYTES) / (numbers(text)[0] / 1e9);
    // Round by round, so the ceiling and the gateway share whatever else the machine was doing.
    const rows = { ceiling: [] as Sample[], one: [] as Sample[], parallel: [] as Sample[], directOne: [] as Sample[], directParallel: [] as Sample[] };
    for (let round = 0; round < DOWNLOAD_RUNS; round++) {
      rows.ceiling.push(await sample(() => rawExecStream(engine, record.containerId)));
      rows.one.push(await sample(async () => rate(1)(await inTask(downloads(`${relayed}/big`, '', 1)))));
      rows.parallel.push(await sample(async () => rate(PARALLEL)(await inTask(downloads(`${relayed}/big`, '', PARALLEL)))));
      rows.directOne.push(await sample(async () => rate(1)(await onHost(downloads(`${direct}/big`, "--noproxy '*'", 1)))));
      rows.directParallel.push(await sample(async () => rate(PARALLEL)(await onHost(downloads(`${direct}/big`, "--noproxy '*'", PARALLEL)))));
    }
    const speed = (samples: Sample[]) => median(samples.map((entry) => entry.value));
    const busy = (samples: Sample[]) => {
      const known = samples.flatMap((entry) => (entry.busy === undefined ? [] : [entry.busy]));
      return known.length ? `${(median(known) * 100).toFixed(0)}%` : '—';
    };
    const mb = (bytesPerSecond: number) => `${(bytesPerSecond / 1024 / 1024).toFixed(0)} MB/s`;
    const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
    const added = median(gatewayLatency) - median(directLatency);
    // Ratios round by round, then their median: the machine's speed drifts between rounds.
    const ratio = (top: Sample[], bottom: Sample[]) => median(top.map((entry, round) => entry.value / bottom[round].value));
    const ofCeiling = ratio(rows.one, rows.ceiling);
    const scaling = ratio(rows.parallel, rows.one);
    const row = (label: string, gateway: string, host: string, cpu: string, note: string) => `  ${label.padEnd(36)}${gateway.padStart(12)}${host.padStart(12)}${cpu.padStart(8)}   ${note}`;
    return [
      `\nEgress: curl in the task through relay + gateway vs the same curl direct on the host (loopback origin, runc, ${os.cpus().length} CPUs)`,
      row('', 'gateway', 'direct', 'CPU', ''),
      row(`connection + tiny GET, p50 (n=${LATENCY_RUNS})`, `${median(gatewayLatency).toFixed(2)} ms`, `${median(directLatency).toFixed(2)} ms`, '', `added ${added.toFixed(2)} ms`),
      row(`engine exec stream alone, host → task`, mb(speed(rows.ceiling)), '', busy(rows.ceiling), `the ceiling: 200 MB into \`cat > /dev/null\``),
      row(`one 200 MB download, median of ${DOWNLOAD_RUNS}`, mb(speed(rows.one)), mb(speed(rows.directOne)), busy(rows.one), `${percent(ofCeiling)} of the exec stream, ${percent(ratio(rows.one, rows.directOne))} of direct`),
      row(`${PARALLEL} downloads at once, aggregate`, mb(speed(rows.parallel)), mb(speed(rows.directParallel)), busy(rows.parallel), `${scaling.toFixed(2)}× one (direct: ${ratio(rows.directParallel, rows.directOne).toFixed(2)}×)`),
      `  targets: added latency ≤ 5 ms p50 → ${added.toFixed(2)} ms; one download ≥ 60% of the exec stream → ${percent(ofCeiling)}; ${PARALLEL} at once ≥ 2.5× one → ${scaling.toFixed(2)}×`,
    ];
  } finally {
    await service.stop(record.id).catch(() => undefined);
    await hosted?.stop().catch(() => undefined);
    service.dispose();
    server.close();
  }
}
