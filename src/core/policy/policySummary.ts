import { printableLine } from '../ground/printable.js';
import type { PhaseRules } from '../egress/egressRules.js';
import type { EffectivePolicy } from './policyLayers.js';

const GiB = 1024 ** 3;
const bytes = (value: number) => (value >= GiB ? `${+(value / GiB).toFixed(1)} GiB` : `${Math.round(value / 1024 ** 2)} MiB`);
const hours = (seconds: number) => (seconds >= 3600 ? `${+(seconds / 3600).toFixed(1)} h` : `${Math.round(seconds / 60)} min`);
const few = (items: readonly string[], max = 4) => (items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`);
const reach = (rules: PhaseRules) => (rules.allow.length || rules.allowCidr.length ? `allow ${few([...rules.allow, ...rules.allowCidr])}` : 'offline');

/**
 * What a task started with this policy gets, in a few lines a person reads before starting it:
 * image and runtime, limits, network per phase, command rules, setup commands, and what is held
 * back. Values may come from the repository's file, so each line is printable.
 */
export function policySummary(effective: EffectivePolicy): string[] {
  const { policy } = effective;
  const { resources, network, commands } = policy;
  const lines = [
    `image ${policy.image}${policy.build ? ' (built from the devcontainer)' : ''}, runtime ${resources.runtime === 'runsc' ? 'gVisor (runsc)' : 'runc'}, user ${policy.user ?? policy.imageUser ?? 'the sandbox user'}${policy.allowRoot ? ' (root allowed)' : ''}`,
    `limits: ${resources.cpus} CPU(s), ${bytes(resources.memory)} memory, ${resources.pids} processes, ends after ${hours(resources.ttlSeconds)}`,
    `network: setup ${reach(network.setup)}; agent ${reach(network.agent)}${network.ask ? '; unknown destinations wait for a reviewer' : ''}`,
    `commands: ${commands.default === 'ask' ? 'anything not allowed waits for a reviewer' : 'allowed unless a rule says otherwise'}${commands.ask.length ? `; ask: ${few(commands.ask)}` : ''}${commands.deny.length ? `; deny: ${few(commands.deny)}` : ''}`,
  ];
  if (policy.setupCommands.length) lines.push(`setup commands: ${few(policy.setupCommands.map((command) => command.command), 3)}`);
  if (policy.env.passthrough.length) lines.push(`environment passed in: ${few(policy.env.passthrough)}`);
  lines.push(`secret files left out: ${policy.secretFilePatterns.length} pattern(s)`);
  return lines.map(printableLine);
}
