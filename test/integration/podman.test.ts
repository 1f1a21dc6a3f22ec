import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { copyBundle } from '../helpers/cliBundle.js';
import { type CliResult, launchNode } from '../helpers/cliProcess.js';
import { startOrigin, type Origin } from '../helpers/egressFixtures.js';
import { taskObjects } from '../helpers/ownedEngineProcess.js';
import { cgroupV2, type PodmanEngine, podmanEngine, type PodmanMode, podmanVolumeNames, stopPodmanEngines } from '../helpers/podmanEngine.js';
import { TEST_IMAGE } from '../helpers/realEngine.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

const SLOW = { timeout: 300_000 };

/** Both names map to host loopback, so a refusal can only come from the rules. */
const RESOLVE = { 'api.example.test': '127.0.0.1', 'other.example.test': '127.0.0.1' };

let cli = '';
let origin: Origin;

/** The bundled CLI against this Podman service (DOCKER_HOST), as a user would run it. */
function airlock(engine: PodmanEngine, state: string, args: string[], timeoutMs = 150_000): Promise<CliResult> {
  return launchNode([cli, ...args], { env: { ...engine.env, AIRLOCK_STATE_DIR: state, AIRLOCK_IMAGE: TEST_IMAGE, AIRLOCK_TEST_RESOLVE: JSON.stringify(RESOLVE) }, timeoutMs }).result;
}

interface Inspected {
  Config: { User: string };
  HostConfig: Record<string, unknown> & { CapAdd?: string[] | null; SecurityOpt?: string[] | null; Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> | null };
  Mounts: Array<{ Type: string; Name?: string; Source?: string; Destination: string }>;
}

before(async () => {
  cli = copyBundle(makeTempDir('airlock-podman-bundle-'));
  origin = await startOrigin();
});

after(async () => {
  await origin?.close();
  await stopPodmanEngines();
  removeTempDirs();
});

/**
 * The whole task on Podman through its Docker-compatible API: start (read-only root, egress
 * allowlist), hardening as the engine reports it and as the box sees it, exec, diff, apply,
 * egress allowed and refused, stop leaving nothing behind.
 */
async function wholeTask(t: TestContext, engine: PodmanEngine): Promise<void> {
  const state = makeTempDir('airlock-podman-state-');
  const workspace = makeTempDir('airlock-podman-ws-');
  fs.writeFileSync(path.join(workspace, 'hello.txt'), 'hello from the host\n');
  const run = (args: string[]) => airlock(engine, state, args);

  const volumesBefore = new Set(await podmanVolumeNames(engine));
  const started = await run(['start', '--workspace', workspace, '--image', TEST_IMAGE, '--ttl', '900', '--read-only', '--allow', 'api.example.test', '--allow-cidr', '127.0.0.1/32']);
  assert.equal(started.status, 0, `start: ${started.stderr}`);
  const id = started.stdout.trim();
  assert.match(id, /^[0-9a-f]{12}$/, `start printed ${JSON.stringify(started.stdout)}`);
  // The user is told why the start is a whole copy.
  assert.match(started.stderr, /on Podman each task gets a whole private copy/);
  let stopped = false;
  t.after(async () => {
    if (!stopped) await run(['stop', id]);
  });

  // Hardening, as Podman reports the container.
  const inspected = (await engine.connection.docker.getContainer(`airlock-${id}`).inspect()) as unknown as Inspected;
  assert.equal(inspected.Config.User, '1000:1000');
  assert.equal(inspected.HostConfig.Privileged, false);
  assert.equal(inspected.HostConfig.ReadonlyRootfs, true);
  assert.equal(inspected.HostConfig.NetworkMode, 'none');
  assert.deepEqual(inspected.HostConfig.CapAdd ?? [], []);
  assert.ok((inspected.HostConfig.SecurityOpt ?? []).some((option) => /^no-new-privileges/.test(option)), `SecurityOpt ${JSON.stringify(inspected.HostConfig.SecurityOpt)}`);
  assert.ok(!(inspected.HostConfig.SecurityOpt ?? []).some((option) => /unconfined|label[=:]disable/.test(option)));
  assert.ok(Number(inspected.HostConfig.PidsLimit) > 0 && Number(inspected.HostConfig.Memory) > 0 && Number(inspected.HostConfig.NanoCpus) > 0, 'limits are set');
  assert.equal(inspected.HostConfig.MemorySwap, inspected.HostConfig.Memory);
  assert.deepEqual(inspected.HostConfig.Devices ?? [], []);
  const core = (inspected.HostConfig.Ulimits ?? []).find((limit) => /^(RLIMIT_)?CORE$/i.test(limit.Name));
  assert.deepEqual(core && [core.Soft, core.Hard], [0, 0], `Ulimits ${JSON.stringify(inspected.HostConfig.Ulimits)}`);
  const workspaceMount = inspected.Mounts.find((mount) => mount.Destination === '/workspace');
  assert.equal(workspaceMount?.Type, 'volume');
  assert.ok(workspaceMount?.Name, 'the workspace is a volume of its own');
  assert.ok(!volumesBefore.has(workspaceMount.Name), 'a fresh volume, not one that was there before');
  for (const mount of inspected.Mounts) assert.ok(mount.Type === 'volume' || mount.Type === 'tmpfs', `mount ${mount.Type} at ${mount.Destination}`);

  // …and as the box sees itself.
  const posture = await run(['exec', id, '--', 'sh', '-c', 'id -u; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /etc/airlock-probe 2>/dev/null && echo root-writable; touch ~/home-ok /tmp/tmp-ok && echo scratch-writable; find / -xdev \\( -name docker.sock -o -name podman.sock \\) 2>/dev/null; ls /run/podman /var/run/docker.sock 2>/dev/null; true']);
  assert.equal(posture.status, 0, posture.stderr);
  const lines = posture.stdout.split('\n');
  assert.equal(lines[0], '1000');
  for (const field of ['CapEff', 'CapPrm', 'CapBnd']) assert.ok(lines.includes(`${field}:\t0000000000000000`), `${field} in ${posture.stdout}`);
  assert.ok(lines.includes('NoNewPrivs:\t1'), posture.stdout);
  assert.ok(lines.includes('Seccomp:\t2'), `seccomp filter mode in ${posture.stdout}`);
  assert.ok(!lines.includes('root-writable'), 'the root file system is read-only');
  assert.ok(lines.includes('scratch-writable'), 'home and /tmp are writable');
  assert.ok(!/docker\.sock|podman\.sock|^\/run\/podman/m.test(posture.stdout), `an engine socket in the box: ${posture.stdout}`);

  // exec: exit code and both streams.
  const ran = await run(['exec', id, '--', 'sh', '-c', 'cat hello.txt; echo to-stderr >&2; exit 7']);
  assert.equal(ran.status, 7, ran.stderr);
  assert.equal(ran.stdout, 'hello from the host\n');
  assert.match(ran.stderr, /to-stderr/);

  // A file written in the box shows in the diff, and apply writes it to the host.
  const wrote = await run(['exec', id, '--', 'sh', '-c', 'printf "made in the box\\n" > made.txt && echo "changed" >> hello.txt']);
  assert.equal(wrote.status, 0, wrote.stderr);
  assert.ok(!fs.existsSync(path.join(workspace, 'made.txt')), 'nothing reaches the host before apply');
  const diff = await run(['diff', id, '--json']);
  assert.equal(diff.status, 0, diff.stderr);
  const changes = JSON.parse(diff.stdout) as { files: Array<{ path: string; status: string }> };
  assert.deepEqual(changes.files.map((file) => [file.path, file.status]).sort(), [['hello.txt', 'modified'], ['made.txt', 'added']]);
  const applied = await run(['apply', id, '--yes']);
  assert.equal(applied.status, 0, applied.stderr);
  assert.equal(fs.readFileSync(path.join(workspace, 'made.txt'), 'utf8'), 'made in the box\n');
  assert.equal(fs.readFileSync(path.join(workspace, 'hello.txt'), 'utf8'), 'hello from the host\nchanged\n');

  // Egress: the allowed loopback origin is reached through the relay, another name is refused.
  const reachedBefore = origin.connections();
  const hello = await run(['exec', id, '--', 'curl', '-sS', `http://api.example.test:${origin.port}/hello/podman`]);
  assert.equal(hello.status, 0, hello.stderr);
  assert.equal(hello.stdout, `hello podman via api.example.test:${origin.port}\n`);
  assert.equal(origin.connections(), reachedBefore + 1);
  const denied = await run(['exec', id, '--', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://other.example.test:${origin.port}/hello/x`]);
  assert.equal(denied.status, 0, denied.stderr);
  assert.equal(denied.stdout, '403');
  assert.equal(origin.connections(), reachedBefore + 1, 'the refused name never reached the origin');
  // Without the relay there is no way out: a direct connection fails (loopback only).
  const direct = await run(['exec', id, '--', 'curl', '-sS', '--noproxy', '*', '-m', '5', `http://127.0.0.1:${origin.port}/hello/direct`]);
  assert.notEqual(direct.status, 0, 'a direct connection must fail');
  assert.equal(origin.connections(), reachedBefore + 1);

  // stop: no container, no labelled volume, and the (anonymous, unlabelled) workspace volume gone.
  const stop = await run(['stop', id]);
  assert.equal(stop.status, 0, stop.stderr);
  stopped = true;
  assert.deepEqual(await taskObjects(engine, id), { containers: [], volumes: [] });
  const containers = await engine.connection.docker.listContainers({ all: true });
  assert.ok(!containers.some((item) => item.Names.includes(`/airlock-${id}`)), 'the task container is gone');
  assert.ok(!(await podmanVolumeNames(engine)).includes(workspaceMount.Name), `workspace volume ${workspaceMount.Name} is left behind`);
}

/** What Airlock does not offer on Podman is refused before anything is created. */
async function refusals(engine: PodmanEngine): Promise<void> {
  const state = makeTempDir('airlock-podman-state-');
  const workspace = makeTempDir('airlock-podman-ws-');
  fs.writeFileSync(path.join(workspace, 'a.txt'), 'a\n');
  const before = await engine.connection.docker.listContainers({ all: true });
  const runsc = await airlock(engine, state, ['start', '--workspace', workspace, '--image', TEST_IMAGE, '--runtime', 'runsc']);
  assert.equal(runsc.status, 1);
  assert.match(runsc.stderr, /runsc \(gVisor\) is supported on Docker only, and this engine is Podman/);
  const tmpfs = await airlock(engine, state, ['start', '--workspace', workspace, '--image', TEST_IMAGE, '--workspace-tmpfs', '64m']);
  assert.equal(tmpfs.status, 1);
  assert.match(tmpfs.stderr, /in-memory workspace is not available on Podman/);
  for (const result of [runsc, tmpfs]) assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.equal((await engine.connection.docker.listContainers({ all: true })).length, before.length, 'nothing was created');
  const doctor = await airlock(engine, state, ['doctor', '--json']);
  assert.equal(doctor.status, 0, doctor.stderr);
  const report = JSON.parse(doctor.stdout) as { engine: { flavor: string }; runsc: { works: boolean; detail?: string } };
  assert.equal(report.engine.flavor, 'podman');
  assert.equal(report.runsc.works, false);
  assert.match(report.runsc.detail ?? '', /gVisor on Docker only/);
}

const modes: PodmanMode[] = ['rootful', 'rootless'];

for (const mode of modes) {
  describe(`Airlock on ${mode} Podman through its Docker-compatible API (integration)`, () => {
    test('start, hardening, exec, diff, apply, egress and stop', SLOW, async (t) => {
      const engine = await podmanEngine(t, mode);
      if (!engine) return;
      if (mode === 'rootless' && !cgroupV2()) {
        // Rootless Podman on cgroup v1 drops memory, CPU and pids limits ("Resource limits are not
        // supported and ignored on cgroups V1 rootless systems"): Airlock refuses the task.
        const state = makeTempDir('airlock-podman-state-');
        const workspace = makeTempDir('airlock-podman-ws-');
        fs.writeFileSync(path.join(workspace, 'a.txt'), 'a\n');
        const before = await engine.connection.docker.listContainers({ all: true });
        const refused = await airlock(engine, state, ['start', '--workspace', workspace, '--image', TEST_IMAGE]);
        assert.equal(refused.status, 1, refused.stderr);
        assert.match(refused.stderr, /rootless Podman on cgroup v1 cannot limit a task's memory, CPU or processes/);
        assert.doesNotMatch(refused.stderr, /^\s+at /m);
        assert.equal((await engine.connection.docker.listContainers({ all: true })).length, before.length, 'nothing was created');
        t.diagnostic('cgroup v1 host: rootless Podman cannot enforce limits, so Airlock refuses it (the full flow runs on cgroup v2)');
        return;
      }
      await wholeTask(t, engine);
    });

    test('gVisor and an in-memory workspace are refused with a clear error; doctor says why', SLOW, async (t) => {
      const engine = await podmanEngine(t, mode);
      if (!engine) return;
      await refusals(engine);
    });
  });
}
