import { createRequire } from 'node:module';

/** Airlock's own programs that run inside the box with `node -e` (their sources: src/sandbox). */
export type SandboxProgramName = 'supervisor' | 'scanner' | 'relay';
type SandboxPrograms = Readonly<Record<SandboxProgramName, string>>;

/** Put in by esbuild.mjs (`define`): the programs as bundled when the front ends were built. */
declare const __AIRLOCK_SANDBOX_PROGRAMS__: SandboxPrograms | undefined;

let programs: SandboxPrograms | undefined;

/** The source text of an in-box program, ready for `node -e` (see inBoxProgram.ts). */
export function sandboxProgram(name: SandboxProgramName): string {
  programs ??= typeof __AIRLOCK_SANDBOX_PROGRAMS__ === 'object' ? __AIRLOCK_SANDBOX_PROGRAMS__ : bundleFromSource();
  return programs[name];
}

/**
 * Run from source (tests, bench), nothing was put in: bundle now, once per process, the same way
 * esbuild.mjs does. Loaded through createRequire so the front-end bundles never contain esbuild.
 */
function bundleFromSource(): SandboxPrograms {
  const load = createRequire(__filename);
  const { bundleSandboxPrograms } = load('../../sandbox/bundlePrograms.cjs') as { bundleSandboxPrograms: (esbuild: unknown) => SandboxPrograms };
  return bundleSandboxPrograms(load('esbuild'));
}
