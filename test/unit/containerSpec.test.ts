import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { parseTaskOptions, type TaskOptions, type TaskOptionsInput } from '../../src/core/config/taskOptions.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { assertHardened, buildContainerSpec, sandboxIds } from '../../src/core/task/containerSpec.js';
import { SANDBOX_HOME, WORKSPACE_PATH } from '../../src/core/ground/sandboxPaths.js';
import { EXPIRES_LABEL, TASK_LABEL } from '../../src/core/state/taskRecord.js';

const TASK_ID = 't-0123abcd';

const optionsWith = (extra: Partial<TaskOptionsInput> = {}): TaskOptions => parseTaskOptions({ workspace: '/tmp/x', ...extra });

function specFor(options: TaskOptions, env: Record<string, string> = {}): { spec: Docker.ContainerCreateOptions; host: Docker.HostConfig; expiresAt: Date } {
  const expiresAt = new Date(Date.now() + options.ttlSeconds * 1000);
  const spec = buildContainerSpec({ id: TASK_ID, options, env, expiresAt });
  assert.ok(spec.HostConfig, 'the spec has a HostConfig');
  return { spec, host: spec.HostConfig, expiresAt };
}

/** A freshly built default spec, deep-copied so a test can weaken it without touching others. */
const freshSpec = (): Docker.ContainerCreateOptions => structuredClone(specFor(optionsWith()).spec);

/** An engine mount as the API accepts it (Source is optional there, though the typings require it). */
const mount = (settings: Record<string, unknown>) => settings as unknown as Docker.MountSettings;

function refusal(spec: Docker.ContainerCreateOptions): AirlockError {
  try {
    assertHardened(spec);
  } catch (error) {
    assert.ok(error instanceof AirlockError, `expected AirlockError, got ${String(error)}`);
    assert.match(error.message, /^refusing to create an unsafe container/);
    return error;
  }
  assert.fail('assertHardened accepted an unsafe spec');
}

describe('buildContainerSpec security posture', () => {
  const { spec, host } = specFor(optionsWith());

  test('every capability is dropped and none is added', () => {
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.equal(host.CapAdd?.length ?? 0, 0);
    assert.equal(host.Privileged, false);
  });

  test('no-new-privileges is set and nothing is unconfined', () => {
    assert.ok(host.SecurityOpt?.includes('no-new-privileges:true'));
    assert.deepEqual(host.SecurityOpt?.filter((option: string) => /unconfined/.test(option)), []);
  });

  test('the container has no network', () => {
    assert.equal(host.NetworkMode, 'none');
  });

  test('no host path is bound: no Binds, only an anonymous /workspace volume', () => {
    assert.equal(host.Binds, undefined);
    const mounts = host.Mounts ?? [];
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0].Type, 'volume');
    assert.equal(mounts[0].Target, WORKSPACE_PATH);
    assert.equal(mounts[0].Source, undefined);
  });

  test('/tmp and the sandbox home are private tmpfs mounts owned by the sandbox user', () => {
    assert.deepEqual(Object.keys(host.Tmpfs ?? {}).sort(), ['/tmp', SANDBOX_HOME].sort());
    assert.match(host.Tmpfs?.['/tmp'] ?? '', /nosuid,nodev/);
    assert.match(host.Tmpfs?.[SANDBOX_HOME] ?? '', /uid=1000,gid=1000,mode=0700/);
  });

  test('memory equals memory+swap, so the sandbox gets no swap', () => {
    assert.equal(host.Memory, 2 * 1024 ** 3);
    assert.equal(host.MemorySwap, host.Memory);
  });

  test('the container runs as 1000:1000 under init, is removed on exit and keeps no logs', () => {
    assert.equal(spec.User, '1000:1000');
    assert.equal(host.Init, true);
    assert.equal(host.AutoRemove, true);
    assert.equal(host.LogConfig?.Type, 'none');
    assert.equal(host.IpcMode, 'private');
  });

  test('the working directory is /workspace', () => {
    assert.equal(spec.WorkingDir, '/workspace');
  });
});

describe('buildContainerSpec follows the options', () => {
  test('pids, memory and cpus limits come from the options', () => {
    const { host } = specFor(optionsWith({ pids: 100, memory: '512m', cpus: 1.5 }));
    assert.equal(host.PidsLimit, 100);
    assert.equal(host.Memory, 512 * 1024 ** 2);
    assert.equal(host.MemorySwap, 512 * 1024 ** 2);
    assert.equal(host.NanoCpus, 1_500_000_000);
  });

  test('an in-memory workspace is a tmpfs volume of the asked size owned by the sandbox user, and passes the hardening check', () => {
    const { host } = specFor(optionsWith({ workspaceTmpfs: '1g' }));
    const workspace = host.Mounts?.find((mount) => mount.Target === '/workspace');
    assert.deepEqual(workspace?.VolumeOptions?.DriverConfig, { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: `size=${1024 ** 3},uid=1000,gid=1000,mode=0755,nosuid,nodev` } });
    assert.equal(workspace?.Source, undefined);
  });

  test('under runc the pids cgroup is the process limit and RLIMIT_NPROC is not set', () => {
    const { host } = specFor(optionsWith({ pids: 100 }));
    assert.equal(host.PidsLimit, 100);
    assert.equal(host.Ulimits?.some((limit) => limit.Name === 'nproc'), false);
  });

  test('under runsc the limit is RLIMIT_NPROC inside gVisor, with host headroom for its stubs and threads', () => {
    const { host } = specFor(optionsWith({ pids: 100, runtime: 'runsc' }));
    assert.deepEqual(host.Ulimits?.find((limit) => limit.Name === 'nproc'), { Name: 'nproc', Soft: 100, Hard: 100 });
    assert.equal(host.PidsLimit, 3648);
  });

  test('the main process sleeps for the TTL in seconds', () => {
    const options = optionsWith({ ttlSeconds: 600 });
    assert.deepEqual(specFor(options).spec.Cmd, ['sleep', '600']);
    assert.deepEqual(specFor(optionsWith()).spec.Cmd, ['sleep', String(4 * 3600)]);
  });

  test('labels name the task and its expiry time', () => {
    const { spec, expiresAt } = specFor(optionsWith());
    assert.equal(spec.Labels?.[TASK_LABEL], TASK_ID);
    assert.equal(spec.Labels?.['airlock.task'], TASK_ID);
    assert.equal(spec.Labels?.[EXPIRES_LABEL], expiresAt.toISOString());
    assert.equal(spec.Labels?.['airlock.expires'], expiresAt.toISOString());
    assert.equal(spec.name, `airlock-${TASK_ID}`);
  });

  test('ReadonlyRootfs follows readOnlyRoot', () => {
    assert.equal(specFor(optionsWith()).host.ReadonlyRootfs, false);
    assert.equal(specFor(optionsWith({ readOnlyRoot: true })).host.ReadonlyRootfs, true);
  });

  test('Runtime follows runtime', () => {
    assert.equal(specFor(optionsWith()).host.Runtime, 'runc');
    assert.equal(specFor(optionsWith({ runtime: 'runsc' })).host.Runtime, 'runsc');
  });

  test('Image follows image', () => {
    assert.equal(specFor(optionsWith({ image: 'debian:12' })).spec.Image, 'debian:12');
  });

  test('a UID-only user is given the same number as its group', () => {
    assert.equal(specFor(optionsWith({ user: '1234' })).spec.User, '1234:1234');
    assert.deepEqual(sandboxIds({ user: '1234' }), { uid: 1234, gid: 1234 });
    assert.deepEqual(sandboxIds({ user: '5:6' }), { uid: 5, gid: 6 });
  });

  test('tmpfs scratch mounts from the options are added as tmpfs, with the default size when none is given', () => {
    const { host } = specFor(optionsWith({ mounts: [{ type: 'tmpfs', target: '/cache', size: '64m' }, { type: 'tmpfs', target: '/scratch' }] }));
    assert.deepEqual(host.Mounts?.slice(1), [
      { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * 1024 ** 2 } },
      { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 256 * 1024 ** 2 } },
    ]);
  });
});

describe('buildContainerSpec environment', () => {
  before(() => {
    process.env.AIRLOCK_CANARY = 'leaked-from-host';
  });
  after(() => {
    delete process.env.AIRLOCK_CANARY;
  });

  test('Env holds only the given variables plus HOME, AIRLOCK_TASK and LANG; nothing from process.env', () => {
    const { spec } = specFor(optionsWith(), { NODE_ENV: 'test', FOO: 'bar' });
    assert.deepEqual([...(spec.Env ?? [])].sort(), [`AIRLOCK_TASK=${TASK_ID}`, 'FOO=bar', `HOME=${SANDBOX_HOME}`, 'LANG=C.UTF-8', 'NODE_ENV=test']);
    assert.ok(!(spec.Env ?? []).some((entry) => entry.startsWith('AIRLOCK_CANARY=')));
  });

  test('a given LANG is kept; HOME and AIRLOCK_TASK cannot be overridden', () => {
    const { spec } = specFor(optionsWith(), { LANG: 'de_DE.UTF-8', HOME: '/root', AIRLOCK_TASK: 'other' });
    assert.deepEqual([...(spec.Env ?? [])].sort(), [`AIRLOCK_TASK=${TASK_ID}`, `HOME=${SANDBOX_HOME}`, 'LANG=de_DE.UTF-8']);
  });
});

describe('assertHardened', () => {
  test('accepts the spec buildContainerSpec makes', () => {
    const spec = freshSpec();
    assertHardened(spec);
    assert.deepEqual(spec.HostConfig?.CapDrop, ['ALL']);
  });

  test('refuses a spec with Binds', () => {
    const spec = freshSpec();
    spec.HostConfig!.Binds = ['/home/me:/src'];
    assert.match(refusal(spec).message, /HostConfig\.Binds: host bind mounts are never allowed/);
  });

  test('refuses a workspace volume that would take the image\'s own /workspace', () => {
    const spec = freshSpec();
    const workspace = spec.HostConfig!.Mounts!.find((entry) => entry.Target === WORKSPACE_PATH)!;
    assert.equal(workspace.VolumeOptions?.NoCopy, true, 'the spec Airlock builds sets NoCopy');
    workspace.VolumeOptions.NoCopy = false;
    assert.match(refusal(spec).message, /the workspace volume must not take the image's own \/workspace/);
  });

  test('refuses capability and security lists of the wrong shape, and any device, instead of reading them loosely', () => {
    const stringCapDrop = freshSpec();
    (stringCapDrop.HostConfig as Record<string, unknown>).CapDrop = 'ALL';
    assert.match(refusal(stringCapDrop).message, /CapDrop/);
    const objectSecurity = freshSpec();
    (objectSecurity.HostConfig as Record<string, unknown>).SecurityOpt = { 'no-new-privileges': true };
    assert.match(refusal(objectSecurity).message, /SecurityOpt/);
    const devices = freshSpec();
    devices.HostConfig!.Devices = [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }];
    assert.match(refusal(devices).message, /Devices/);
  });

  test('refuses a bind mount in Mounts', () => {
    const spec = freshSpec();
    spec.HostConfig!.Mounts!.push({ Type: 'bind', Source: '/etc', Target: '/host-etc' });
    assert.match(refusal(spec).message, /HostConfig\.Mounts: bind mount of \/host-etc is not allowed/);
  });

  test('refuses a docker.sock mount', () => {
    const spec = freshSpec();
    spec.HostConfig!.Mounts!.push({ Type: 'bind', Source: '/var/run/docker.sock', Target: '/var/run/docker.sock' });
    assert.match(refusal(spec).message, /the engine socket is never mounted/);
  });

  test('refuses a docker.sock target even on an otherwise allowed mount type', () => {
    const spec = freshSpec();
    spec.HostConfig!.Mounts!.push(mount({ Type: 'volume', Target: '/run/docker.sock' }));
    assert.match(refusal(spec).message, /the engine socket is never mounted/);
  });

  test('refuses a named volume that could be shared between tasks', () => {
    const spec = freshSpec();
    spec.HostConfig!.Mounts![0].Source = 'shared';
    assert.match(refusal(spec).message, /named volume shared could be shared between tasks/);
  });

  test('refuses an anonymous volume whose driver options bind a host folder', () => {
    const spec = freshSpec();
    spec.HostConfig!.Mounts!.push(
      mount({ Type: 'volume', Target: '/host-etc', VolumeOptions: { DriverConfig: { Name: 'local', Options: { type: 'none', o: 'bind', device: '/etc' } } } }),
    );
    refusal(spec);
  });

  test('refuses a Privileged spec', () => {
    const spec = freshSpec();
    spec.HostConfig!.Privileged = true;
    assert.match(refusal(spec).message, /HostConfig\.Privileged must be false/);
  });

  test('refuses a spec with CapAdd', () => {
    const spec = freshSpec();
    spec.HostConfig!.CapAdd = ['SYS_ADMIN'];
    assert.match(refusal(spec).message, /HostConfig\.CapAdd must be empty/);
  });

  test('refuses a spec that does not drop ALL capabilities', () => {
    const spec = freshSpec();
    spec.HostConfig!.CapDrop = ['NET_RAW'];
    assert.match(refusal(spec).message, /HostConfig\.CapDrop must include ALL/);
  });

  test('refuses seccomp=unconfined', () => {
    const spec = freshSpec();
    spec.HostConfig!.SecurityOpt!.push('seccomp=unconfined');
    assert.match(refusal(spec).message, /must not disable seccomp or AppArmor/);
  });

  test('refuses a spec without no-new-privileges', () => {
    const spec = freshSpec();
    spec.HostConfig!.SecurityOpt = [];
    assert.match(refusal(spec).message, /must set no-new-privileges/);
  });

  test('refuses NetworkMode host', () => {
    const spec = freshSpec();
    spec.HostConfig!.NetworkMode = 'host';
    assert.match(refusal(spec).message, /HostConfig\.NetworkMode host is not allowed/);
  });

  test('refuses NetworkMode bridge', () => {
    const spec = freshSpec();
    spec.HostConfig!.NetworkMode = 'bridge';
    assert.match(refusal(spec).message, /HostConfig\.NetworkMode bridge is not allowed/);
  });

  test('refuses MemorySwap different from Memory', () => {
    const spec = freshSpec();
    spec.HostConfig!.MemorySwap = -1;
    assert.match(refusal(spec).message, /MemorySwap must equal Memory/);
  });

  test('refuses host PID and IPC namespaces', () => {
    const pid = freshSpec();
    pid.HostConfig!.PidMode = 'host';
    assert.match(refusal(pid).message, /must not share host namespaces/);
    const ipc = freshSpec();
    ipc.HostConfig!.IpcMode = 'host';
    assert.match(refusal(ipc).message, /must not share host namespaces/);
  });

  test('refuses host devices', () => {
    const spec = freshSpec();
    spec.HostConfig!.Devices = [{ PathOnHost: '/dev/kvm', PathInContainer: '/dev/kvm', CgroupPermissions: 'rwm' }];
    assert.match(refusal(spec).message, /HostConfig\.Devices must be empty/);
  });

  test('refuses a spec without resource limits', () => {
    const spec = freshSpec();
    delete spec.HostConfig!.PidsLimit;
    assert.match(refusal(spec).message, /must limit pids, memory and CPU/);
  });

  test('lists every problem of a spec at once', () => {
    const spec = freshSpec();
    spec.HostConfig!.Privileged = true;
    spec.HostConfig!.NetworkMode = 'host';
    const message = refusal(spec).message;
    assert.match(message, /Privileged must be false/);
    assert.match(message, /NetworkMode host is not allowed/);
  });
});
