import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { engineGet } from './engineFlavor.js';

/** The parts of Podman's own libpod info Airlock reads (its routes need a version; 4.0.0 is the oldest 4.x serves): the Docker-compatible /info says neither. */
const podmanInfoSchema = z.object({
  host: z.object({
    cgroupVersion: z.string().optional(),
    security: z.object({ rootless: z.boolean().optional() }).passthrough().optional(),
  }).passthrough(),
}).passthrough();

export interface PodmanHost {
  rootless: boolean;
  cgroupVersion?: string;
}

/** Whether the Podman service runs rootless, and on which cgroup version (from its libpod API). */
export async function podmanHost(docker: Docker): Promise<PodmanHost> {
  const { host } = podmanInfoSchema.parse(await engineGet(docker.modem, '/v4.0.0/libpod/info'));
  return { rootless: host.security?.rootless === true, cgroupVersion: host.cgroupVersion };
}

/**
 * Rootless Podman on cgroup v1 cannot limit a container: it drops memory, CPU and pids limits with
 * a warning in its own log ("Resource limits are not supported and ignored on cgroups V1 rootless
 * systems") and starts it anyway. A task without them could exhaust the host, so it is refused.
 */
export function assertPodmanCanLimit(host: PodmanHost): void {
  if (host.rootless && host.cgroupVersion !== undefined && !/^v?2$/.test(host.cgroupVersion)) {
    throw new AirlockError(`rootless Podman on cgroup ${host.cgroupVersion} cannot limit a task's memory, CPU or processes (it ignores the limits and starts the container anyway)`, {
      code: 'engine.podmanNoLimits',
      hint: 'Use rootful Podman (`sudo podman system service`), boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate cpu, memory and pids to the user, or use Docker.',
    });
  }
}
