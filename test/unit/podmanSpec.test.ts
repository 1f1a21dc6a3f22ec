import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parseTaskOptions } from '../../src/core/config/taskOptions.js';
import { engineFlavor } from '../../src/core/engine/engineFlavor.js';
import { assertPodmanCanLimit } from '../../src/core/engine/podmanHost.js';
import { hostRlimits, PODMAN_DEFAULT_RLIMIT, PODMAN_SERVICE_NPROC } from '../../src/core/engine/podmanLimits.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { assertHardened, buildContainerSpec } from '../../src/core/task/containerSpec.js';

const spec = (extra: Record<string, unknown>, flavor?: 'docker' | 'podman', rlimits?: { nofile: number; nproc: number }) =>
  buildContainerSpec({ id: '0123456789ab', options: parseTaskOptions({ workspace: '/tmp/x', ...extra }), env: {}, expiresAt: new Date(Date.now() + 60_000), flavor, rlimits });
const home = (created: ReturnType<typeof spec>) => created.HostConfig?.Tmpfs?.['/home/airlock'];
const refused = (work: () => unknown, code: string) => assert.throws(work, (error: unknown) => error instanceof AirlockError && error.code === code);

describe('the engine flavor', () => {
  test('Podman is told by its "Podman Engine" component; anything else is Docker', () => {
    assert.equal(engineFlavor({ Components: [{ Name: 'Podman Engine', Version: '4.3.1' }, { Name: 'Conmon' }] }), 'podman');
    assert.equal(engineFlavor({ Components: [{ Name: 'Engine', Version: '26.1.5' }, { Name: 'containerd' }, { Name: 'runc' }] }), 'docker');
    assert.equal(engineFlavor({}), 'docker');
    assert.equal(engineFlavor(undefined), 'docker');
  });
});

describe('buildContainerSpec on Podman', () => {
  test('Docker keeps exactly its spec: uid=/gid= on the home tmpfs, core as the only ulimit', () => {
    const docker = spec({});
    assert.deepEqual(spec({}, 'docker', { nofile: 10, nproc: 10 }).HostConfig?.Ulimits, [{ Name: 'core', Soft: 0, Hard: 0 }]);
    assert.match(home(docker) ?? '', /,uid=1000,gid=1000,mode=0700$/);
    assert.deepEqual(docker.HostConfig?.Ulimits, [{ Name: 'core', Soft: 0, Hard: 0 }]);
  });

  test('the home tmpfs is owned through Podman\'s U, never the uid= it refuses', () => {
    const podman = spec({}, 'podman');
    assert.match(home(podman) ?? '', /^rw,nosuid,nodev,size=\d+,U,mode=0700$/);
    assertHardened(podman);
  });

  test('a local Podman names nofile and nproc next to core', () => {
    assert.deepEqual(spec({}, 'podman', { nofile: 20000, nproc: 4096 }).HostConfig?.Ulimits, [{ Name: 'core', Soft: 0, Hard: 0 }, { Name: 'nofile', Soft: 20000, Hard: 20000 }, { Name: 'nproc', Soft: 4096, Hard: 4096 }]);
  });

  test('gVisor, an in-memory workspace and layers are refused', () => {
    refused(() => spec({ runtime: 'runsc' }, 'podman'), 'runtime.unsupportedOnPodman');
    refused(() => spec({ workspaceTmpfs: '64m' }, 'podman'), 'options.tmpfsOnPodman');
    const layers = { baseVolume: 'airlock-base-0123abcd-0123abcd', basePath: '/var/lib/containers/storage/volumes/airlock-base-0123abcd-0123abcd/_data', layerVolume: 'airlock-layer-0123456789ab', layerPath: '/var/lib/containers/storage/volumes/airlock-layer-0123456789ab/_data' };
    assert.throws(() => buildContainerSpec({ id: '0123456789ab', options: parseTaskOptions({ workspace: '/tmp/x' }), env: {}, expiresAt: new Date(Date.now() + 60_000), layers, flavor: 'podman' }), (error: unknown) => error instanceof AirlockError && error.code === 'layers.podman');
  });
});

describe('Podman host checks', () => {
  test('host limits come from the limits file, capped at what Podman itself could give', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-limits-'));
    const file = path.join(dir, 'limits');
    fs.writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             96368                96368                processes \nMax open files            1024                 20000                files     \n');
    assert.deepEqual(hostRlimits(file), { nofile: 20000, nproc: PODMAN_SERVICE_NPROC });
    fs.writeFileSync(file, 'Max processes             unlimited            unlimited            processes \nMax open files            4194304              4194304              files     \n');
    assert.deepEqual(hostRlimits(file), { nofile: PODMAN_DEFAULT_RLIMIT, nproc: PODMAN_SERVICE_NPROC });
    assert.equal(hostRlimits(path.join(dir, 'missing')), undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('rootless Podman on cgroup v1 is refused; rootful, or rootless on v2, is not', () => {
    refused(() => assertPodmanCanLimit({ rootless: true, cgroupVersion: 'v1' }), 'engine.podmanNoLimits');
    assertPodmanCanLimit({ rootless: false, cgroupVersion: 'v1' });
    assertPodmanCanLimit({ rootless: true, cgroupVersion: 'v2' });
  });
});
