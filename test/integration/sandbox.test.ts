import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { TaskService } from '../../src/core/task/taskService.js';
import type { ExecBackendName } from '../../src/core/exec/execTypes.js';
import { realEngine, run, serviceFor, TEST_IMAGE, tempDir } from '../helpers/realEngine.js';

const LIVE_SLEEPERS = `for p in /proc/[0-9]*; do tr '\\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '^sleep 30[0-9]' || true`;

for (const runtime of ['runc', 'runsc'] as const) {
  describe(`a task under ${runtime} (integration)`, () => {
    let service: TaskService | undefined;
    let id = '';

    before(async (t) => {
      const engine = await realEngine(t as never);
      if (!engine) return;
      ({ service } = serviceFor(engine));
      const workspace = tempDir('sandbox-ws');
      fs.writeFileSync(path.join(workspace, 'a.txt'), 'visible\n');
      fs.writeFileSync(path.join(workspace, '.env'), 'API_TOKEN=hunter2\n');
      fs.writeFileSync(path.join(workspace, 'deploy.pem'), '-----BEGIN PRIVATE KEY-----\n');
      const record = await service.start(
        { workspace, image: TEST_IMAGE, runtime, memory: '256m', pids: 128, ttlSeconds: 600, envPassthrough: ['AIRLOCK_SHARED'] },
        { hostEnv: { ...process.env, AIRLOCK_CANARY: 'host-secret-canary', AIRLOCK_SHARED: 'passed-through' } },
      );
      id = record.id;
    });

    after(async () => {
      if (service && id) await service.stop(id).catch(() => undefined);
      service?.dispose();
    });

    const inTask = (argv: string[], extra = {}) => run(service!, id, argv, extra);
    const sh = (script: string, extra = {}) => inTask(['sh', '-c', script], extra);

    /**
     * Debian's 2022 gVisor (ptrace platform) can lose its whole Sentry when a workload presses on
     * the memory or process limits: the task ends, which is the fail-closed outcome. The claim
     * under runsc is therefore: the command ends (killed or timed out), and the task afterwards
     * either still answers or is gone completely (recorded destroyed, nothing left on the engine).
     */
    async function afterPressureUnderGvisor(exitCode: number, expected: number[]): Promise<void> {
      const alive = await sh('echo alive').then((next) => next.stdout.trim() === 'alive', () => false);
      if (alive) {
        assert.ok(expected.includes(exitCode), `exit ${exitCode}`);
        return;
      }
      await service!.stop(id).catch(() => undefined);
      assert.equal((await service!.list()).find((entry) => entry.record.id === id)?.state, 'destroyed');
      id = (await service!.start({ workspace: tempDir('sandbox-ws-again'), image: TEST_IMAGE, runtime, memory: '256m', pids: 128, ttlSeconds: 600 })).id;
    }

    test('there is no engine socket anywhere in the sandbox', { skip: !service && undefined }, async (t) => {
      if (!service) return t.skip('no engine');
      const result = await sh('ls /var/run/docker.sock /run/docker.sock 2>/dev/null; find / -xdev \\( -name "docker.sock" -o -name "podman.sock" -o -name "containerd.sock" \\) 2>/dev/null; true');
      assert.equal(result.stdout.trim(), '');
    });

    test('every capability is dropped, the user is not root and no-new-privileges is set', async (t) => {
      if (!service) return t.skip('no engine');
      const status = (await inTask(['cat', '/proc/self/status'])).stdout;
      for (const set of ['CapPrm', 'CapEff', 'CapBnd']) {
        assert.match(status, new RegExp(`${set}:\\s+0000000000000000`), `${set} must be all zero`);
      }
      // gVisor's /proc/self/status has no NoNewPrivs line, so ask the kernel: prctl(PR_GET_NO_NEW_PRIVS).
      const prctl = process.arch === 'arm64' ? 167 : 157;
      const noNewPrivs = await inTask(['perl', '-e', `print syscall(${prctl}, 39, 0, 0, 0, 0)`]);
      assert.equal(noNewPrivs.stdout, '1');
      assert.equal((await inTask(['id', '-u'])).stdout.trim(), '1000');
    });

    test('a host variable set before start is not visible; only allowlisted ones are', async (t) => {
      if (!service) return t.skip('no engine');
      const env = (await inTask(['env'])).stdout;
      assert.doesNotMatch(env, /host-secret-canary|AIRLOCK_CANARY/);
      assert.match(env, /^AIRLOCK_SHARED=passed-through$/m);
      assert.match(env, /^HOME=\/home\/airlock$/m);
    });

    test('secret files stay on the host while other files are copied', async (t) => {
      if (!service) return t.skip('no engine');
      // find rather than ls: Debian's 2022 gVisor answers coreutils' statx() with EINVAL.
      const listing = await sh("find /workspace -mindepth 1 -maxdepth 1 -printf '%f\\n'");
      assert.deepEqual(listing.stdout.trim().split('\n').sort(), ['a.txt']);
      assert.equal((await inTask(['cat', '/workspace/a.txt'])).stdout, 'visible\n');
    });

    test('the network is unreachable: only loopback, no routes', async (t) => {
      if (!service) return t.skip('no engine');
      // Parsed here rather than with tail/cut inside: Debian's 2022 gVisor can wedge the sandbox
      // when tail reads /proc/net files.
      const devices = (await inTask(['cat', '/proc/net/dev'])).stdout.split('\n').slice(2).filter((line) => line.includes(':'));
      assert.deepEqual(devices.map((line) => line.split(':')[0].trim()), ['lo']);
      const ipv4Routes = (await inTask(['cat', '/proc/net/route'])).stdout.trim().split('\n').slice(1).filter(Boolean);
      assert.deepEqual(ipv4Routes, []);
      const ipv6Routes = (await inTask(['cat', '/proc/net/ipv6_route'])).stdout.trim().split('\n').filter((line) => line && !/\slo$/.test(line));
      assert.deepEqual(ipv6Routes, []);
      // Only loopback exists: a listener on the sandbox's own loopback answers, which shows the probe
      // itself works, and there is no interface or route that could carry anything further.
      const loopback = await inTask(['node', '-e', "const s=require('net').createServer(c=>c.end('pong')).listen(0,'127.0.0.1',()=>require('net').connect(s.address().port,'127.0.0.1').on('data',d=>{console.log(String(d));process.exit(0)}))"]);
      assert.equal(loopback.stdout.trim(), 'pong');
    });

    test("the host's loopback services are out of reach", async (t) => {
      if (!service) return t.skip('no engine');
      let reached = 0;
      const server = net.createServer((socket) => {
        reached++;
        socket.end('host');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const probe = await inTask(['node', '-e', `require('net').connect(${port},'127.0.0.1').on('error',e=>{console.log(e.code);process.exit(3)}).on('data',()=>process.exit(0))`], { timeoutMs: 20_000 });
        assert.equal(probe.exitCode, 3);
        assert.equal(probe.stdout.trim(), 'ECONNREFUSED');
        assert.equal(reached, 0);
      } finally {
        server.close();
      }
    });

    test('exit codes, cwd, env additions and stdin reach the command', async (t) => {
      if (!service) return t.skip('no engine');
      assert.equal((await sh('exit 42')).exitCode, 42);
      assert.equal((await inTask(['definitely-not-a-command'])).exitCode, 127);
      await sh('mkdir -p sub');
      assert.equal((await inTask(['pwd'], { cwd: 'sub' })).stdout.trim(), '/workspace/sub');
      assert.equal((await sh('echo $GREETING', { env: { GREETING: 'hi' } })).stdout.trim(), 'hi');
      const piped = await inTask(['cat'], { stdin: Readable.from([Buffer.from('from stdin\n')]) });
      assert.equal(piped.stdout, 'from stdin\n');
    });

    for (const backend of ['supervisor', 'docker-exec'] as ExecBackendName[]) {
      test(`an exec timeout kills the command's grandchildren too (${backend})`, async (t) => {
        if (!service) return t.skip('no engine');
        const started = Date.now();
        const result = await sh('(sleep 300 &); sh -c "sleep 301 & sleep 302"', { timeoutMs: 1500, backend });
        assert.equal(result.exitCode, 124);
        assert.ok(result.timedOut);
        assert.ok(Date.now() - started < 15_000, 'the timeout must end the command promptly');
        assert.equal((await sh(LIVE_SLEEPERS)).stdout.trim(), '0', 'no sleeper may survive the timeout');
      });
    }

    test('cancelling a command kills its process tree', async (t) => {
      if (!service) return t.skip('no engine');
      const controller = new AbortController();
      const running = sh('sleep 303 & sleep 304', { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 800));
      controller.abort();
      const result = await running;
      assert.equal(result.exitCode, 130);
      assert.equal((await sh(LIVE_SLEEPERS)).stdout.trim(), '0');
    });

    test('a memory hog is killed (137) without taking the task down', async (t) => {
      if (!service) return t.skip('no engine');
      // tail keeps every byte of a newline-free stream in memory.
      const hog = await inTask(['sh', '-c', 'tail /dev/zero'], { timeoutMs: 30_000 }).catch((error: Error) => ({ exitCode: -1, stderr: error.message }));
      if (runtime === 'runsc') return afterPressureUnderGvisor(hog.exitCode, [137, 124]);
      assert.equal(hog.exitCode, 137, `hog exited ${hog.exitCode}: ${hog.stderr.slice(0, 300)}`);
      assert.equal((await inTask(['echo', 'still here'])).stdout.trim(), 'still here');
    });

    test('every command is in the audit log', async (t) => {
      if (!service) return t.skip('no engine');
      await inTask(['sh', '-c', 'echo audited; exit 3']);
      const records = service.store.audit(id).records();
      assert.equal(records[0].type, 'task.created');
      const last = records.filter((record) => record.type === 'command').at(-1) as Record<string, unknown>;
      assert.deepEqual(last.argv, ['sh', '-c', 'echo audited; exit 3']);
      assert.equal(last.exitCode, 3);
      assert.equal(last.bytesOut, 'audited\n'.length);
      assert.equal(last.cwd, '/workspace');
    });

    test('a fork bomb is contained by the pids limit and the host stays responsive', async (t) => {
      if (!service) return t.skip('no engine');
      const bomb = sh('bomb() { bomb | bomb & }; bomb; sleep 60', { timeoutMs: 6000 });
      const hostLatencies: number[] = [];
      for (let index = 0; index < 10; index++) {
        const began = process.hrtime.bigint();
        assert.equal(spawnSync('true').status, 0);
        hostLatencies.push(Number(process.hrtime.bigint() - began) / 1e6);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const result = await bomb.catch((error: Error) => ({ exitCode: -1, error }));
      assert.ok(Math.max(...hostLatencies) < 2000, `host spawn took ${Math.max(...hostLatencies)} ms during the bomb`);
      if (runtime === 'runc') assert.equal(result.exitCode, 124);
      if (runtime === 'runsc') return afterPressureUnderGvisor(result.exitCode, [124]);
      const pids = await sh("find /proc -maxdepth 1 -name '[0-9]*' | wc -l");
      assert.equal(pids.exitCode, 0, 'the task still runs commands after the bomb');
      assert.ok(Number(pids.stdout.trim()) < 20, `processes left: ${pids.stdout.trim()}`);
    });
  });
}
