/**
 * Egress through the in-task relay and host gateway, side by side with the same curl going direct
 * on the host, in one run (egress issue). Targets: added latency per connection ≤ 5 ms p50, and a
 * 200 MB download at ≥ 50% of direct throughput.
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
const DOWNLOAD_RUNS = 3;
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
const downloadLoop = (url: string, extra: string) => `for i in $(seq ${DOWNLOAD_RUNS}); do curl -s ${extra} -o /dev/null -w '%{speed_download}\\n' ${url}; done`;
const numbers = (text: string) => text.trim().split('\n').map(Number).filter((value) => Number.isFinite(value));

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
    const gatewaySpeed = numbers(await inTask(downloadLoop(`${relayed}/big`, '')));
    const directSpeed = numbers(await onHost(downloadLoop(`${direct}/big`, "--noproxy '*'")));
    const ceiling: number[] = [];
    for (let run = 0; run < DOWNLOAD_RUNS; run++) ceiling.push(await rawExecStream(engine, record.containerId));
    const added = median(gatewayLatency) - median(directLatency);
    const ratio = median(gatewaySpeed) / median(directSpeed);
    const mb = (bytesPerSecond: number) => `${(bytesPerSecond / 1024 / 1024).toFixed(0)} MB/s`;
    return [
      `\nEgress: curl in the task through relay + gateway vs the same curl direct on the host (loopback origin, runc)`,
      `  ${''.padEnd(34)}${'gateway'.padStart(12)}${'direct'.padStart(12)}${'ratio'.padStart(10)}`,
      `  ${`connection + tiny GET, p50 (n=${LATENCY_RUNS})`.padEnd(34)}${`${median(gatewayLatency).toFixed(2)} ms`.padStart(12)}${`${median(directLatency).toFixed(2)} ms`.padStart(12)}${`${(median(gatewayLatency) / median(directLatency)).toFixed(1)}×`.padStart(10)}`,
      `  ${`200 MB download, median (n=${DOWNLOAD_RUNS})`.padEnd(34)}${mb(median(gatewaySpeed)).padStart(12)}${mb(median(directSpeed)).padStart(12)}${`${(ratio * 100).toFixed(0)}%`.padStart(10)}`,
      `  ${'engine exec stream alone, host → task'.padEnd(34)}${mb(median(ceiling)).padStart(12)}${''.padStart(12)}${`${((median(ceiling) / median(directSpeed)) * 100).toFixed(0)}%`.padStart(10)}   (the transport's ceiling: 200 MB into \`cat > /dev/null\`)`,
      `  target: added latency ≤ 5 ms p50 → measured ${added.toFixed(2)} ms; throughput ≥ 50% of direct → measured ${(ratio * 100).toFixed(0)}%`,
    ];
  } finally {
    await service.stop(record.id).catch(() => undefined);
    await hosted?.stop().catch(() => undefined);
    service.dispose();
    server.close();
  }
}
