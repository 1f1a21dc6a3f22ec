import type Docker from 'dockerode';
import { z } from 'zod';
import { type EngineFlavor, flavorOf } from '../engine/engineFlavor.js';
import { AirlockError } from '../ground/errors.js';

/** The only PATH Airlock's own programs see: image directories root owns, never the task's PATH. */
export const IN_BOX_PATH = '/usr/local/bin:/usr/bin:/bin';

/** What the engine puts first in every exec's environment (moby's CreateDaemonEnvironment) before the container's Config.Env. */
const ENGINE_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The loader reads this file in every dynamically linked program, whatever the environment and
 * even in secure-execution mode, so no exec setting can keep its libraries out.
 */
export const LD_SO_PRELOAD = '/etc/ld.so.preload';

const containerEnvSchema = z.object({
  Config: z.object({ Env: z.array(z.string()).nullish(), Hostname: z.string().nullish() }).passthrough(),
}).passthrough();

export interface InBoxProgram {
  /** The exec's Env: unsets every variable the container would pass on (image ENV, policy, devcontainer) so nothing reaches the loader or node. */
  Env: string[];
  /** Cmd for `node -e SOURCE ...args`, run so that node starts with a clean, fixed environment. */
  Cmd: string[];
  /** The task's environment as the agent's own commands should see it (for the supervisor's children). */
  taskEnv: Record<string, string>;
}

export interface InBoxCommand {
  Env: string[];
  Cmd: string[];
}

interface ContainerEnv {
  names: string[];
  taskEnv: Record<string, string>;
  flavor: EngineFlavor;
}

async function containerEnv(container: Docker.Container): Promise<ContainerEnv> {
  const [inspected, flavor] = await Promise.all([container.inspect(), flavorOf(container)]);
  const { Config } = containerEnvSchema.parse(inspected);
  const taskEnv: Record<string, string> = { PATH: ENGINE_DEFAULT_PATH, ...(Config.Hostname ? { HOSTNAME: Config.Hostname } : {}) };
  for (const entry of Config.Env ?? []) {
    const index = entry.indexOf('=');
    if (index > 0) taskEnv[entry.slice(0, index)] = entry.slice(index + 1);
  }
  // TERM is added by the engine for TTY execs only; unsetting it too costs nothing.
  return { names: [...new Set([...Object.keys(taskEnv), 'TERM'])], taskEnv, flavor };
}

/**
 * What acts on the first program an exec starts (the loader, libc, a shell) before `env -i` or a
 * script could clear it: glibc's list of variables it drops for setuid programs, every LD_ and
 * MALLOC_ name, and the shell's start-up variables.
 */
const BEFORE_CLEAN = /^(LD_\w*|MALLOC_\w*|GLIBC_TUNABLES|GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCALDOMAIN|LOCPATH|NIS_PATH|NLSPATH|RESOLV_HOST_CONF|RES_OPTIONS|BASH_ENV|ENV|BASHOPTS|SHELLOPTS|IFS|PS4)$/;

/**
 * An exec inherits the container's Config.Env (the image's ENV plus everything Airlock set: policy
 * env, devcontainer env, task --env), and the dynamic loader reads LD_PRELOAD, LD_AUDIT,
 * LD_LIBRARY_PATH, GLIBC_TUNABLES, LD_TRACE_LOADED_OBJECTS… in the very first program the engine
 * starts, before any `env -i` could run. So the exec itself must not carry them: a name without
 * `=` is the engine API's way to unset an inherited variable (an empty value is not neutral:
 * LD_TRACE_LOADED_OBJECTS= already changes what the loader does).
 */
function cleanEnv({ names, flavor }: ContainerEnv): string[] {
  if (flavor === 'podman') return podmanCleanEnv(names);
  return [...names.filter((name) => name !== 'PATH'), `PATH=${IN_BOX_PATH}`];
}

/**
 * Podman's exec takes NAME=VALUE only ("environment variable badly formed"): it cannot unset what
 * the container passes on. So on Podman a container whose environment holds anything that acts
 * before the program can clear it is refused (fail closed); the rest is inert for `env` and `sh`,
 * and `env -i` drops it before node starts.
 */
function podmanCleanEnv(names: string[]): string[] {
  const unsafe = names.filter((name) => BEFORE_CLEAN.test(name));
  if (unsafe.length > 0) {
    throw new AirlockError(
      `the task's environment sets ${unsafe.join(', ')}, which Podman would pass on to Airlock's own programs in the task (it cannot unset variables for an exec, as Docker does)`,
      { code: 'engine.podmanEnv', hint: `Remove ${unsafe.join(', ')} from the image's ENV, the policy's env and the devcontainer's containerEnv, or use a Docker engine.` },
    );
  }
  return [`PATH=${IN_BOX_PATH}`];
}

/**
 * For Airlock's own node programs in the box (the supervisor, the egress relay, the change
 * scanner): an exec with nothing from the container's environment, and node started by `env -i`
 * with a fixed one. Refuses images with /etc/ld.so.preload (see LD_SO_PRELOAD), because the
 * libraries it names would run inside those programs.
 */
export async function inBoxProgram(container: Docker.Container, source: string, args: string[] = []): Promise<InBoxProgram> {
  const [found] = await Promise.all([containerEnv(container), refusePreloadFile(container)]);
  return {
    Env: cleanEnv(found),
    Cmd: ['env', '-i', `PATH=${IN_BOX_PATH}`, 'node', '-e', source, ...args],
    taskEnv: found.taskEnv,
  };
}

/**
 * For Airlock's own shell housekeeping (killing a command's tree, ending earlier relays): the same
 * clean exec environment. No ld.so.preload check: a kill must still run in an image that has one
 * (the agent's own commands load it anyway).
 */
export async function inBoxCommand(container: Docker.Container, argv: string[]): Promise<InBoxCommand> {
  return { Env: cleanEnv(await containerEnv(container)), Cmd: argv };
}

/**
 * Asked of the engine, not of a process in the box, so nothing the file preloads runs to answer.
 * It sees the image's file and, under runc, one created since; the sandbox user cannot create one
 * unless the image left /etc writable to it.
 */
async function refusePreloadFile(container: Docker.Container): Promise<void> {
  const present = await container.infoArchive({ path: LD_SO_PRELOAD }).then(
    (response: unknown) => {
      // The engine's answer comes as a response stream (dockerode's isStream): left unread, its
      // socket would stay open and keep the process alive.
      (response as { destroy?: () => void } | undefined)?.destroy?.();
      return true;
    },
    (error: { statusCode?: number }) => {
      if (error.statusCode === 404) return false;
      throw error;
    },
  );
  if (present) {
    throw new AirlockError(
      `image: the task image has ${LD_SO_PRELOAD}; the libraries it names would run inside Airlock's own programs in the task (runner, egress relay, change scanner)`,
      {
        code: 'image.preloadFile',
        hint: `Use an image without ${LD_SO_PRELOAD} (preload libraries for your own commands with LD_PRELOAD in their environment instead).`,
        field: 'image',
        actions: [{ kind: 'changeSetting', setting: 'image' }],
      },
    );
  }
}
