import type Docker from 'dockerode';
import { AirlockError } from '../ground/errors.js';
import type { TaskOptions } from '../config/taskOptions.js';
import type { EngineFlavor } from '../engine/engineFlavor.js';
import type { HostRlimits } from '../engine/podmanLimits.js';
import { EXPIRES_LABEL, TASK_LABEL } from '../state/taskRecord.js';
import { SANDBOX_HOME, WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import { BASE_MOUNT, isLayeredDriver, LAYER_MOUNT, overlayDriver, type WorkspaceLayers } from './workspaceLayers.js';


export interface ContainerSpecInput {
  id: string;
  options: TaskOptions;
  env: Record<string, string>;
  expiresAt: Date;
  /** A layered workspace (an overlay over the workspace's base); absent for a plain private volume. */
  layers?: WorkspaceLayers;
  /** The engine the spec is for; Docker when absent. */
  flavor?: EngineFlavor;
  /** On Podman: the open-files and process limits to name (see podmanLimits.ts); Docker never gets them. */
  rlimits?: HostRlimits;
}

const uidGid = (user: string) => {
  const [uid, gid] = user.split(':');
  return { uid: Number(uid), gid: Number(gid ?? uid) };
};

export function sandboxIds(options: Pick<TaskOptions, 'user'>): { uid: number; gid: number } {
  return uidGid(options.user);
}

export function taskLabels(id: string, expiresAt: Date, workspace: string): Record<string, string> {
  return { [TASK_LABEL]: id, [EXPIRES_LABEL]: expiresAt.toISOString(), 'airlock.workspace': workspace };
}

/**
 * The whole security posture of a task container in one place. The main process is `sleep TTL`
 * under the engine's init: when the TTL passes the container exits and AutoRemove deletes it with
 * its anonymous workspace volume, even if no Airlock process is running.
 */
/**
 * Under gVisor's ptrace platform every sandboxed process has a host stub process, and the Sentry
 * needs host threads of its own; hitting the host pids cgroup kills the whole sandbox. So the
 * process limit is enforced inside gVisor (RLIMIT_NPROC, which its kernel applies to the sandbox
 * alone) and the host cgroup gets headroom above it. Under runc, RLIMIT_NPROC would count the uid's
 * processes across the whole host, so the pids cgroup is the limit there.
 */
function processLimits(options: TaskOptions, podmanRlimits?: HostRlimits): { PidsLimit: number; Ulimits: Array<{ Name: string; Soft: number; Hard: number }> } {
  const core = { Name: 'core', Soft: 0, Hard: 0 };
  // Podman sets both itself once any ulimit is named, to values its service may not be allowed to give.
  const inherited = podmanRlimits ? [{ Name: 'nofile', Soft: podmanRlimits.nofile, Hard: podmanRlimits.nofile }, { Name: 'nproc', Soft: podmanRlimits.nproc, Hard: podmanRlimits.nproc }] : [];
  if (options.runtime !== 'runsc') return { PidsLimit: options.pids, Ulimits: [core, ...inherited] };
  return { PidsLimit: options.pids * 16 + 2048, Ulimits: [core, { Name: 'nproc', Soft: options.pids, Hard: options.pids }] };
}

/** A tmpfs-backed workspace volume when asked for: the local driver's tmpfs type, never a bind. */
function workspaceDriver(options: TaskOptions, uid: number, gid: number, layers: WorkspaceLayers | undefined): { DriverConfig?: { Name: string; Options: Record<string, string> } } {
  if (layers && !options.workspaceTmpfs) return { DriverConfig: overlayDriver(layers) };
  if (!options.workspaceTmpfs) return {};
  return { DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: `size=${options.workspaceTmpfs},uid=${uid},gid=${gid},mode=0755,nosuid,nodev` } } };
}

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Whether an untyped field that must stay empty holds anything: only absent, null or an empty list is empty. */
const setAtAll = (value: unknown): boolean => value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0);

const isTmpfsDriver = (config: { Name?: string; Options?: Record<string, string> } | undefined) =>
  config?.Name === 'local' && config.Options?.type === 'tmpfs' && config.Options?.device === 'tmpfs' && !/\bbind\b/.test(config.Options?.o ?? '') && Object.keys(config.Options).every((key) => ['type', 'device', 'o'].includes(key));

/**
 * The home folder's tmpfs, owned by the sandbox user. Docker takes the kernel's uid=/gid= options;
 * Podman refuses them ("unknown mount option") and has its own `U`, which chowns the mount to the
 * container's user (the same uid:gid, the spec's User).
 */
function homeTmpfs(options: TaskOptions, uid: number, gid: number, flavor: EngineFlavor): string {
  const owner = flavor === 'podman' ? 'U' : `uid=${uid},gid=${gid}`;
  return `rw,nosuid,nodev,size=${options.tmpSize},${owner},mode=0700`;
}

/**
 * What Airlock does not offer on Podman, refused before anything is created:
 * - gVisor is wired for Docker only (registered in daemon.json, its process limits enforced inside
 *   the sandbox, see processLimits); Airlock has never checked its posture under Podman.
 * - Podman ignores a mount's VolumeOptions.DriverConfig (the volume is created on disk without
 *   them), so an in-memory workspace would silently be a disk one, and a layered workspace an
 *   empty volume. Layers are never asked of Podman (TaskService gives it a whole private copy);
 *   a tmpfs workspace is refused.
 */
export function assertEngineSupports(options: Pick<TaskOptions, 'runtime' | 'workspaceTmpfs'>, flavor: EngineFlavor): void {
  if (flavor !== 'podman') return;
  if (options.runtime === 'runsc') {
    throw new AirlockError('runtime: runsc (gVisor) is supported on Docker only, and this engine is Podman', { code: 'runtime.unsupportedOnPodman', hint: 'Run the task with runc on Podman, or use a Docker engine with gVisor registered (scripts/setup-engine.sh).', field: 'runtime', actions: [{ kind: 'useRuntime', runtime: 'runc' }] });
  }
  if (options.workspaceTmpfs) {
    throw new AirlockError('workspaceTmpfs: an in-memory workspace is not available on Podman (it ignores the volume options that make the workspace a tmpfs, and the copy would land on disk)', { code: 'options.tmpfsOnPodman', hint: 'Keep the workspace on disk (unset workspaceTmpfs), or use a Docker engine.', field: 'workspaceTmpfs', actions: [{ kind: 'changeSetting', setting: 'workspaceTmpfs' }] });
  }
}

export function buildContainerSpec({ id, options, env, expiresAt, layers, flavor = 'docker', rlimits }: ContainerSpecInput): Docker.ContainerCreateOptions {
  assertEngineSupports(options, flavor);
  if (flavor === 'podman' && layers) throw new AirlockError('a layered workspace is not available on Podman (it ignores the overlay volume\'s options)', { code: 'layers.podman', hint: 'This is a bug in Airlock; please report it.' });
  const { uid, gid } = uidGid(options.user);
  const labels = taskLabels(id, expiresAt, options.workspace);
  const ttl = Math.max(1, Math.ceil((expiresAt.getTime() - Date.now()) / 1000));
  const envList = Object.entries({ ...env, HOME: SANDBOX_HOME, AIRLOCK_TASK: id, LANG: env.LANG ?? 'C.UTF-8' }).map(([name, value]) => `${name}=${value}`);
  const scratch = options.mounts.map((mount) => ({ Type: 'tmpfs' as const, Target: mount.target, TmpfsOptions: { SizeBytes: mount.size ?? 256 * 1024 ** 2 } }));
  // Mounted so the engine counts the layers as in use; read-only, and nothing the box has not already got.
  const layerMounts = layers && !options.workspaceTmpfs ? [{ Type: 'volume' as const, Source: layers.baseVolume, Target: BASE_MOUNT, ReadOnly: true }, { Type: 'volume' as const, Source: layers.layerVolume, Target: LAYER_MOUNT, ReadOnly: true }] : [];
  const spec: Docker.ContainerCreateOptions = {
    name: `airlock-${id}`,
    Image: options.image,
    Cmd: ['sleep', String(ttl)],
    Entrypoint: [],
    User: `${uid}:${gid}`,
    WorkingDir: WORKSPACE_PATH,
    Env: envList,
    Labels: labels,
    Hostname: 'airlock',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    OpenStdin: false,
    Tty: false,
    StopTimeout: 2,
    HostConfig: {
      AutoRemove: true,
      Init: true,
      Runtime: options.runtime,
      // Loopback only in every mode: allowlisted egress leaves through the relay on loopback.
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      ReadonlyRootfs: options.readOnlyRoot,
      ...processLimits(options, flavor === 'podman' ? rlimits : undefined),
      Memory: options.memory,
      MemorySwap: options.memory,
      NanoCpus: Math.round(options.cpus * 1e9),
      IpcMode: 'private',
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${options.tmpSize}`,
        [SANDBOX_HOME]: homeTmpfs(options, uid, gid, flavor),
      },
      // NoCopy: the engine would otherwise copy the image's own /workspace into the fresh volume, and
      // the task must hold exactly the snapshot.
      Mounts: [{ Type: 'volume', Target: WORKSPACE_PATH, VolumeOptions: { NoCopy: true, Labels: labels, ...workspaceDriver(options, uid, gid, layers) } }, ...layerMounts, ...scratch] as Docker.MountConfig,
      LogConfig: { Type: 'none', Config: {} },
    },
  };
  assertHardened(spec);
  return spec;
}

/**
 * Re-checks a finished spec before it reaches the engine, so no future code path can quietly
 * weaken it: fail closed on any host mount, socket, capability or privilege.
 */
export function assertHardened(spec: Docker.ContainerCreateOptions): void {
  const host = spec.HostConfig ?? {};
  const problems: string[] = [];
  if (host.Binds && host.Binds.length > 0) problems.push('HostConfig.Binds: host bind mounts are never allowed');
  // The only named volumes: a layered workspace's base and layer, read-only at their own places.
  const layerVolumes = new Map<string, string>();
  for (const mount of host.Mounts ?? []) {
    if (mount.Type === 'volume' && mount.Source && mount.ReadOnly === true && !mount.VolumeOptions?.DriverConfig && ((mount.Target === BASE_MOUNT && /^airlock-base-[0-9a-f-]+$/.test(mount.Source)) || (mount.Target === LAYER_MOUNT && /^airlock-layer-[0-9a-f]+$/.test(mount.Source)))) layerVolumes.set(mount.Source, mount.Target);
  }
  for (const mount of host.Mounts ?? []) {
    if (mount.Type !== 'volume' && mount.Type !== 'tmpfs') problems.push(`HostConfig.Mounts: ${mount.Type} mount of ${mount.Target} is not allowed`);
    if (mount.Type === 'volume' && mount.Source && layerVolumes.get(mount.Source) !== mount.Target) problems.push(`HostConfig.Mounts: named volume ${mount.Source} could be shared between tasks`);
    if (mount.VolumeOptions?.DriverConfig && !isTmpfsDriver(mount.VolumeOptions.DriverConfig) && !(mount.Target === WORKSPACE_PATH && isLayeredDriver(mount.VolumeOptions.DriverConfig, layerVolumes))) problems.push(`HostConfig.Mounts: a volume driver config on ${mount.Target} could bind a host path`);
    if (mount.BindOptions) problems.push(`HostConfig.Mounts: bind options on ${mount.Target} are not allowed`);
    if (mount.Type === 'volume' && mount.Target === WORKSPACE_PATH && !mount.VolumeOptions?.NoCopy) problems.push('HostConfig.Mounts: the workspace volume must not take the image\'s own /workspace (NoCopy)');
    if (/docker\.sock|podman\.sock/.test(`${mount.Source ?? ''}${mount.Target}`)) problems.push('HostConfig.Mounts: the engine socket is never mounted');
  }
  if (host.Privileged) problems.push('HostConfig.Privileged must be false');
  // The engine types leave these lists untyped: anything but a list of strings fails closed (a string "ALL" is not a list holding it).
  const list = (field: 'CapDrop' | 'CapAdd' | 'SecurityOpt'): string[] => {
    const value: unknown = host[field];
    if (value === undefined) return [];
    if (isStringList(value)) return value;
    problems.push(`HostConfig.${field} must be a list of strings`);
    return [];
  };
  const capDrop = list('CapDrop');
  const securityOpt = list('SecurityOpt');
  if (!capDrop.includes('ALL')) problems.push('HostConfig.CapDrop must include ALL');
  if (list('CapAdd').length > 0) problems.push('HostConfig.CapAdd must be empty');
  if (!securityOpt.includes('no-new-privileges:true')) problems.push('HostConfig.SecurityOpt must set no-new-privileges');
  if (securityOpt.some((option) => /unconfined/.test(option))) problems.push('HostConfig.SecurityOpt must not disable seccomp or AppArmor');
  // Egress is relayed over the engine API from loopback (src/core/egress), so no task ever needs an interface.
  if (host.NetworkMode !== 'none') problems.push(`HostConfig.NetworkMode ${host.NetworkMode} is not allowed`);
  if (setAtAll(host.VolumesFrom)) problems.push('HostConfig.VolumesFrom would share another container\'s volumes');
  if (host.Sysctls && Object.keys(host.Sysctls).length > 0) problems.push('HostConfig.Sysctls must be empty');
  if (host.CgroupParent) problems.push('HostConfig.CgroupParent must be unset');
  if (securityOpt.some((option) => /^(seccomp|apparmor)[=:]/.test(option))) problems.push('HostConfig.SecurityOpt must keep the engine\'s default seccomp and AppArmor profiles');
  if (host.PidMode || host.UsernsMode === 'host' || (host.IpcMode && host.IpcMode !== 'private')) problems.push('HostConfig must not share host namespaces');
  if (setAtAll(host.Devices)) problems.push('HostConfig.Devices must be empty');
  if (setAtAll((host as { DeviceRequests?: unknown }).DeviceRequests)) problems.push('HostConfig.DeviceRequests must be empty');
  if (securityOpt.some((option) => /label[=:]disable/.test(option))) problems.push('HostConfig.SecurityOpt must not disable SELinux labels');
  if (host.UTSMode === 'host' || (host as { CgroupnsMode?: string }).CgroupnsMode === 'host') problems.push('HostConfig must not share the host UTS or cgroup namespace');
  if (!host.PidsLimit || !host.Memory || !host.NanoCpus) problems.push('HostConfig must limit pids, memory and CPU');
  if (host.MemorySwap !== host.Memory) problems.push('HostConfig.MemorySwap must equal Memory (no swap)');
  if (problems.length > 0) throw new AirlockError(`refusing to create an unsafe container:\n  ${problems.join('\n  ')}`, { code: 'spec.unsafe', hint: 'This is a bug in Airlock; please report it.' });
}
