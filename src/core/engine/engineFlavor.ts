import type { EngineVersion } from './engineSchemas.js';

/**
 * Which engine answers behind the Docker API: Docker itself, or Podman's Docker-compatible
 * service (`podman system service`). Both speak the same API, but Podman reads a few options
 * differently (tmpfs ownership, runtimes), so the container spec and some messages depend on it.
 */
export type EngineFlavor = 'docker' | 'podman';

/** From the engine's /version answer: Podman lists a "Podman Engine" component; anything else is Docker. */
export function engineFlavor(version: Pick<EngineVersion, 'Components'> | undefined): EngineFlavor {
  return version?.Components?.some((component) => /^podman\b/i.test(component.Name)) ? 'podman' : 'docker';
}

/** The engine's name as a user knows it, for messages. */
export const engineName = (flavor: EngineFlavor): string => (flavor === 'podman' ? 'Podman' : 'Docker');

interface Dialer {
  dial(options: { path: string; method: string; statusCodes: Record<number, boolean | string>; options: object }, callback: (error: Error | null, data: unknown) => void): void;
}

/** A GET of an engine route dockerode has no method for (Podman's own, or /version from a container's modem). */
export function engineGet(modem: unknown, route: string): Promise<unknown> {
  const dialer = modem as Dialer;
  return new Promise((resolve, reject) => dialer.dial({ path: `${route}?`, method: 'GET', statusCodes: { 200: true, 500: 'server error' }, options: {} }, (error, data) => (error ? reject(error) : resolve(data))));
}

const flavors = new WeakMap<object, Promise<EngineFlavor>>();

/**
 * The flavor of the engine behind a dockerode object (a container, an exec): asked of its
 * connection once (GET /version) and remembered for as long as that connection lives. Code that
 * holds only a container (the in-box programs) uses this; code with the EngineConnection reads
 * its version instead.
 */
export function flavorOf(target: { modem?: unknown }): Promise<EngineFlavor> {
  const modem = target.modem as Dialer | undefined;
  if (!modem || typeof modem.dial !== 'function') return Promise.resolve('docker');
  let known = flavors.get(modem);
  if (!known) {
    known = engineGet(modem, '/version').then((data) => engineFlavor(data as Pick<EngineVersion, 'Components'>));
    known.catch(() => flavors.delete(modem));
    flavors.set(modem, known);
  }
  return known;
}
