import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { ExecBackendName } from '../../src/core/exec/execTypes.js';
import type { TaskService } from '../../src/core/task/taskService.js';
import { copyBundle } from '../helpers/cliBundle.js';
import { realEngine, run, serviceFor, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

const MiB = 1024 * 1024;
/** Host memory a hostile box may cost, whatever it prints and however slowly the reader reads. */
const GROWTH_LIMIT = 150 * MiB;
const BLOCK = 64 * 1024;
const BLOCKS = 16384; // 1 GiB
const STALL_MS = 6000;

/** 1 GiB in 64 KiB blocks, every byte of block k equal to k % 251: order and loss are checkable. */
const ORDERED_GIGABYTE = `const B=${BLOCK},N=${BLOCKS};let k=0;function w(){while(k<N){const b=Buffer.alloc(B,k%251);k++;if(!process.stdout.write(b))return process.stdout.once('drain',w);}}w();`;

const hostBytes = () => {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external + usage.arrayBuffers;
};

/** Samples this process's memory while `work` runs; returns the peak growth over the start. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ value: T; growth: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = hostBytes();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, hostBytes())), 50);
  try {
    const value = await work();
    peak = Math.max(peak, hostBytes());
    return { value, growth: peak - base };
  } finally {
    clearInterval(sampler);
  }
}

const liveProcesses = `for p in /proc/[0-9]*; do tr '\\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done`;

describe('hostile output and slow readers (integration)', () => {
  let service: TaskService | undefined;
  let stateRoot = '';
  let id = '';
  const figures: string[] = [];

  before(async (t) => {
    const engine = await realEngine(t as never);
    if (!engine) return;
    ({ service, stateRoot } = serviceFor(engine));
    const workspace = tempDir('backpressure-ws');
    fs.writeFileSync(path.join(workspace, 'a.txt'), 'a\n');
    id = (await service.start({ workspace, image: TEST_IMAGE, memory: '512m', pids: 128, ttlSeconds: 900 })).id;
  });

  after(async () => {
    if (service && id) await service.stop(id).catch(() => undefined);
    service?.dispose();
    if (figures.length) process.stdout.write(`# peak host memory growth: ${figures.join('; ')}\n`);
  });

  for (const backend of ['docker-exec', 'supervisor'] as ExecBackendName[]) {
    test(`a box printing 1 GiB into a consumer that stops reading cannot grow host memory (${backend})`, { timeout: 240_000 }, async (t) => {
      if (!service) return t.skip('no engine');
      let offset = 0;
      let misplaced = 0;
      let stalled = true;
      const stall = new Promise<void>((resolve) => setTimeout(() => {
        stalled = false;
        resolve();
      }, STALL_MS));
      let receivedDuringStall = 0;
      const check = (chunk: Buffer) => {
        // First and last byte of each piece must belong to the block at that offset.
        if (chunk[0] !== Math.floor(offset / BLOCK) % 251) misplaced++;
        if (chunk[chunk.length - 1] !== Math.floor((offset + chunk.length - 1) / BLOCK) % 251) misplaced++;
        offset += chunk.length;
        if (stalled) receivedDuringStall += chunk.length;
      };
      const { value: result, growth } = await peakGrowth(() =>
        service!.exec(id, {
          argv: ['node', '-e', ORDERED_GIGABYTE],
          backend,
          onStdout: (chunk) => {
            check(chunk);
            return stalled ? stall : undefined;
          },
        }),
      );
      figures.push(`${backend} stdout ${(growth / MiB).toFixed(1)} MiB`);
      assert.equal(result.exitCode, 0);
      assert.equal(result.backend, backend);
      assert.equal(offset, BLOCK * BLOCKS, 'every byte arrives once reading starts');
      assert.equal(misplaced, 0, 'bytes arrive in order');
      assert.ok(receivedDuringStall < 16 * MiB, `only a window's worth is taken while the consumer is stalled (${receivedDuringStall} bytes)`);
      assert.ok(growth < GROWTH_LIMIT, `host memory grew by ${(growth / MiB).toFixed(1)} MiB`);
    });

    test(`a large stdin forwarded into a box that does not read stays bounded on the host (${backend})`, { timeout: 240_000 }, async (t) => {
      if (!service) return t.skip('no engine');
      const total = 512 * MiB;
      let produced = 0;
      const source = new Readable({
        read() {
          if (produced >= total) return void this.push(null);
          produced += BLOCK;
          this.push(Buffer.alloc(BLOCK, 7));
        },
      });
      let producedWhileBoxSlept = 0;
      const sampled = setTimeout(() => (producedWhileBoxSlept = produced), 4000);
      const { value: result, growth } = await peakGrowth(() => run(service!, id, ['sh', '-c', 'sleep 5; wc -c'], { backend, stdin: source }));
      clearTimeout(sampled);
      figures.push(`${backend} stdin ${(growth / MiB).toFixed(1)} MiB`);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout.trim(), String(total), 'the box got every byte');
      assert.ok(producedWhileBoxSlept < 16 * MiB, `stdin was read ahead of the box by ${producedWhileBoxSlept} bytes`);
      assert.ok(growth < GROWTH_LIMIT, `host memory grew by ${(growth / MiB).toFixed(1)} MiB`);
    });
  }

  test('a slow consumer of one command does not stall another command on the same runner', { timeout: 60_000 }, async (t) => {
    if (!service) return t.skip('no engine');
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const slow = service.exec(id, { argv: ['head', '-c', String(64 * MiB), '/dev/zero'], backend: 'supervisor', onStdout: () => stalled });
    const started = Date.now();
    const quick = await run(service, id, ['echo', 'still answering'], { backend: 'supervisor' });
    assert.equal(quick.stdout, 'still answering\n');
    assert.ok(Date.now() - started < 10_000);
    release();
    assert.equal((await slow).bytesOut, 64 * MiB);
  });

  describe('through the bundled CLI', () => {
    let cli = '';
    before(() => {
      if (service) cli = copyBundle(tempDir('backpressure-cli'));
    });
    const env = () => ({ ...process.env, AIRLOCK_STATE_DIR: stateRoot, AIRLOCK_IMAGE: TEST_IMAGE });

    /** `airlock ARGS | READER` in bash: the CLI's exit status, what the reader printed, and the CLI's stderr. */
    const pipeline = (args: string[], reader: string) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve, reject) => {
        const errFile = path.join(tempDir('pipe-err'), 'stderr');
        const script = `node "$0" "$@" 2>"${errFile}" | ${reader}; echo "status=\${PIPESTATUS[0]}"`;
        const child = spawn('bash', ['-c', script, cli, ...args], { env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
        const out: Buffer[] = [];
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        child.on('error', reject);
        child.on('close', () => {
          clearTimeout(timer);
          const text = Buffer.concat(out).toString('utf8');
          const match = /status=(\d+)\n$/.exec(text);
          resolve({ status: match ? Number(match[1]) : -1, stdout: match ? text.slice(0, match.index) : text, stderr: fs.readFileSync(errFile, 'utf8') });
        });
      });

    for (const runner of [[], ['--runner']]) {
      const label = runner.length ? 'runner' : 'docker-exec';
      test(`\`airlock exec … seq 1 1000000 | head -1\` prints 1, exits 141 quietly and stops the command in the box (${label})`, { timeout: 120_000 }, async (t) => {
        if (!service) return t.skip('no engine');
        const seq = await pipeline(['exec', ...runner, id, '--', 'seq', '1', '1000000'], 'head -1');
        assert.equal(seq.stdout, '1\n');
        assert.equal(seq.status, 141, seq.stderr);
        assert.doesNotMatch(seq.stderr, /internal error|EPIPE|^\s+at /m);
        // An endless writer proves the command is stopped, not merely finished.
        const endless = await pipeline(['exec', ...runner, id, '--', 'yes', 'airlock-endless'], 'head -1');
        assert.equal(endless.stdout, 'airlock-endless\n');
        assert.equal(endless.status, 141, endless.stderr);
        assert.equal(endless.stderr, '');
        const left = await run(service, id, ['sh', '-c', liveProcesses]);
        assert.doesNotMatch(left.stdout, /airlock-endless|^seq /m);
        const commands = fs.readFileSync(path.join(stateRoot, 'tasks', id, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).filter((entry) => entry.type === 'command' && entry.argv[0] === 'yes');
        assert.equal(commands.at(-1).cancelled, true, 'the audit log records the command as stopped');
      });
    }

    test('`airlock audit ID | head -1` and `airlock diff ID | head -1` end quietly with 141', { timeout: 120_000 }, async (t) => {
      if (!service) return t.skip('no engine');
      // More than a pipe holds, so the writer is still writing when head has gone.
      const long = 'x'.repeat(100_000);
      assert.equal((await run(service, id, ['true', long])).exitCode, 0);
      assert.equal((await run(service, id, ['sh', '-c', `seq 1 200000 > /workspace/big.txt`])).exitCode, 0);
      const audit = await pipeline(['audit', id], 'head -1');
      assert.match(audit.stdout, /^\{.*"task\.created".*\}\n$/);
      assert.equal(audit.status, 141, audit.stderr);
      assert.equal(audit.stderr, '');
      const diff = await pipeline(['diff', id], 'head -1');
      assert.equal(diff.stdout.split('\n').length, 2, diff.stdout);
      assert.equal(diff.status, 141, diff.stderr);
      assert.doesNotMatch(diff.stderr, /internal error|EPIPE|^\s+at /m);
    });
  });
});
