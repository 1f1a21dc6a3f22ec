import * as vscode from 'vscode';
import type * as Core from '../../core/index.js';
import type { MachineFloor, PolicyLayer } from '../../core/index.js';

/**
 * The user's own value of an Airlock setting. A workspace's .vscode/settings.json is repository
 * content, so its values never count: a repository could otherwise pick runc over gVisor or an
 * image of its choosing without the acceptance a policy file needs.
 */
function ownValue<T>(name: string): T | undefined {
  return vscode.workspace.getConfiguration('airlock').inspect<T>(name)?.globalValue;
}

/** `airlock.policy` or `airlock.machinePolicy`, validated: a bad one names the setting. */
export function settingLayer(core: typeof Core, name: 'policy' | 'machinePolicy'): PolicyLayer | undefined {
  const own = ownValue<unknown>(name);
  if (own === undefined) return undefined;
  const parsed = core.policyFileSchema.safeParse(own);
  if (!parsed.success) throw new core.AirlockError(core.formatZodError(parsed.error, `airlock.${name}.`), { code: 'settings.invalid', hint: `Fix airlock.${name} in your settings.`, field: `airlock.${name}` });
  return parsed.data;
}

export function defaultImage(core: typeof Core): string {
  return ownValue<string>('image') || core.DEFAULT_IMAGE;
}

export function extraFloors(core: typeof Core): MachineFloor[] {
  const floor = settingLayer(core, 'machinePolicy');
  return floor ? [{ source: 'setting airlock.machinePolicy', policy: floor }] : [];
}

/** The user's layer for a start: `airlock.policy`, with `airlock.runtime` on top when the user set it. */
export function userLayer(core: typeof Core): PolicyLayer {
  const layer = settingLayer(core, 'policy') ?? {};
  const runtime = ownValue<unknown>('runtime');
  if (runtime === undefined) return layer;
  if (runtime !== 'runc' && runtime !== 'runsc') throw new core.AirlockError(`airlock.runtime: ${core.printableLine(JSON.stringify(runtime) ?? "")} is not a runtime`, { code: 'settings.invalid', hint: 'Choose runc or runsc.', field: 'airlock.runtime', actions: [{ kind: 'changeSetting', setting: 'runtime' }] });
  return { ...layer, resources: { ...layer.resources, runtime } };
}
