/**
 * Egress through the in-task relay and host gateway, side by side with the same curl going direct
 * on the host, in one run (egress issue). Targets: added latency per connection ≤ 5 ms p50, and a
 * 200 MB download at ≥ 50% of direct throughput.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineConnection } from '../src/core/engine/locateEngine.js';
import { hostGateway, type HostedGateway } from '../src/core/egress/gatewayHost.js';
import { TaskService } from '../src/core/task/taskService.js';
import { TaskStore } from '../src/core/task/taskStore.js';

const DOWNLOAD_BYTES = 200 * 1024 * 1024;
const LATENCY_RUNS = 40;
const DOWNLOAD_RUNS = 3;
const NAME = 'origin.bench.test';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function origin(): Promise<{ port: number; close: () => void }> {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const server = http.createServer((request, response) => {
    if (request.url === '/small') return void response.end('ok\n');
    response.writeHead(200, { 'content-length': String(DOWNLOAD_BYTES) });
    let sent = 0;
    const pump = () => {
      while (sent < DOWNLOAD_BYTES) {
        const piece = chunk.subarray(0, Math.min(chunk.length, DOWNLOAD_BYTES - sent));
        sent += piece.length;
        if (!response.write(piece)) return void response.once('drain', pump);
      }
      response.end();
    };
    pump();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() })));
}

/** curl's own timings, so neither side pays for starting a process or an engine exec. */
const latencyLoop = (url: string, extra: string) => `for i in $(seq ${LATENCY_RUNS + 1}); do curl -s ${extra} -o /dev/null -w '%{time_total}\\n' ${url}; done`;
const downloadLoop = (url: string, extra: string) => `for i in $(seq ${DOWNLOAD_RUNS}); do curl -s ${extra} -o /dev/null -w '%{speed_download}\\n' ${url}; done`;
const numbers = (text: string) => text.trim().split('\n').map(Number).filter((value) => Number.isFinite(value));

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
      let out = '';
      const result = await service.exec(record.id, { argv: ['bash', '-c', script], backend: 'docker-exec', onStdout: (chunk) => (out += chunk) });
      if (result.exitCode !== 0) throw new Error(`bench command failed in the task: ${script}`);
      return out;
    };
    const onHost = (script: string) => spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout;
    const relayed = `http://${NAME}:${server.port}`;
    const direct = `http://127.0.0.1:${server.port}`;
    const gatewayLatency = numbers(await inTask(latencyLoop(`${relayed}/small`, ''))).slice(1).map((seconds) => seconds * 1000);
    const directLatency = numbers(onHost(latencyLoop(`${direct}/small`, "--noproxy '*'"))).slice(1).map((seconds) => seconds * 1000);
    const gatewaySpeed = numbers(await inTask(downloadLoop(`${relayed}/big`, '')));
    const directSpeed = numbers(onHost(downloadLoop(`${direct}/big`, "--noproxy '*'")));
    const added = median(gatewayLatency) - median(directLatency);
    const ratio = median(gatewaySpeed) / median(directSpeed);
    const mb = (bytesPerSecond: number) => `${(bytesPerSecond / 1024 / 1024).toFixed(0)} MB/s`;
    return [
      `\nEgress: curl in the task through relay + gateway vs the same curl direct on the host (loopback origin, runc)`,
      `  ${''.padEnd(34)}${'gateway'.padStart(12)}${'direct'.padStart(12)}${'ratio'.padStart(10)}`,
      `  ${`connection + tiny GET, p50 (n=${LATENCY_RUNS})`.padEnd(34)}${`${median(gatewayLatency).toFixed(2)} ms`.padStart(12)}${`${median(directLatency).toFixed(2)} ms`.padStart(12)}${`${(median(gatewayLatency) / median(directLatency)).toFixed(1)}×`.padStart(10)}`,
      `  ${`200 MB download, median (n=${DOWNLOAD_RUNS})`.padEnd(34)}${mb(median(gatewaySpeed)).padStart(12)}${mb(median(directSpeed)).padStart(12)}${`${(ratio * 100).toFixed(0)}%`.padStart(10)}`,
      `  target: added latency ≤ 5 ms p50 → measured ${added.toFixed(2)} ms; throughput ≥ 50% of direct → measured ${(ratio * 100).toFixed(0)}%`,
    ];
  } finally {
    await service.stop(record.id).catch(() => undefined);
    await hosted?.stop().catch(() => undefined);
    service.dispose();
    server.close();
  }
}
