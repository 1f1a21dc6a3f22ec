import { z } from 'zod';
import { byteSizeSchema } from '../ground/byteSize.js';
import { ENV_NAME } from '../config/secretNames.js';
import { COMMAND_DEFAULTS, commandPatternText } from '../commands/commandSettings.js';
import { cidrText, denyText, hostRuleText } from '../egress/egressRules.js';

/**
 * The one schema for `.airlock.json`, the team's committed sandbox policy. The TypeScript types, the
 * JSON Schema VS Code uses for completion and hover (`airlock policy schema`, built into
 * dist/airlock-policy.schema.json) and the validation messages all come from here. Every field is
 * optional and has no default: a layer says only what it sets, so the merge knows who set what.
 * The same shape is used for user settings and for the machine floor (see policyLayers.ts).
 */

const envName = z.string().regex(ENV_NAME, 'must be a variable name (letters, digits, underscore)');
const list = <T extends z.ZodType>(item: T, description: string) => z.array(item).describe(description).optional();

const phaseSchema = (phase: string) =>
  z
    .object({
      allow: list(hostRuleText, `Hosts the ${phase} phase may reach: "example.com", "example.com:443" or "*.example.com" (subdomains only). Adding hosts loosens the sandbox: a repository's additions apply only once you accept the policy.`),
      allowCidr: list(cidrText, `Address ranges the ${phase} phase may reach ("10.1.2.0/24", "127.0.0.1"). Loosens; needs acceptance when it comes from a repository.`),
      deny: list(denyText, `Hosts or CIDRs the ${phase} phase never reaches, whatever allows them. Always applies.`),
    })
    .strict()
    .describe(`Network rules while ${phase === 'setup' ? 'setup commands run (dependency installs, builds)' : "the agent's commands run"}. Nothing is inherited from the other phase.`)
    .optional();

export const resourcesSchema = z
  .object({
    cpus: z.number().min(0.1).max(256).describe('CPU limit (e.g. 2 or 0.5). More than the built-in 2 loosens.').optional(),
    memory: byteSizeSchema('memory').describe('Memory limit without swap, e.g. "2g" or "512m". More than the built-in 2g loosens.').optional(),
    pids: z.number().int().min(16).max(65536).describe('Process limit. More than the built-in 512 loosens.').optional(),
    ttlSeconds: z.number().int().min(5).max(7 * 24 * 3600).describe('The task is destroyed after this many seconds. Longer than the built-in 4 hours loosens.').optional(),
    runtime: z.enum(['runc', 'runsc']).describe('OCI runtime. "runsc" (gVisor) wins whenever any layer asks for it.').optional(),
  })
  .strict()
  .describe('Resource limits for each task container. The strictest layer wins.');

export const DEVCONTAINER_REFUSAL_MODES = ['error', 'strip'] as const;

export const policyFileSchema = z
  .object({
    $schema: z.string().describe('The JSON Schema this file follows (for editors).').optional(),
    image: z.string().min(1).describe('Container image for tasks. The image you set yourself (a user setting or a command-line option) takes precedence.').optional(),
    devcontainer: z
      .object({
        path: z.string().min(1).describe('Workspace-relative path of a devcontainer.json, e.g. ".devcontainer/devcontainer.json". Its image or Dockerfile build, containerEnv, user and lifecycle commands are used; fields that would widen the sandbox are refused.').optional(),
        onRefused: z.enum(DEVCONTAINER_REFUSAL_MODES).describe('"error" (default): a refused devcontainer field stops the task. "strip": the field is left out with a warning.').optional(),
      })
      .strict()
      .describe('Build tasks from a dev container definition.')
      .optional(),
    resources: resourcesSchema.optional(),
    user: z.string().regex(/^\d+(:\d+)?$/, 'must be UID or UID:GID (numbers)').describe('UID or UID:GID inside the container (built-in: 1000:1000).').optional(),
    allowRoot: z.boolean().describe('Allow running as uid 0 (still without capabilities). Loosens; needs acceptance when it comes from a repository.').optional(),
    network: z
      .object({
        setup: phaseSchema('setup'),
        agent: phaseSchema('agent'),
        deny: list(denyText, 'Hosts or CIDRs never reached in either phase. Always applies.'),
        ask: z.boolean().describe('Turn destinations no rule decides into approval requests instead of refusing them. true loosens.').optional(),
        approvalTimeoutSeconds: z.number().int().min(1).max(3600).describe('How long a connection waits for a reviewer before it is refused (built-in 120).').optional(),
      })
      .strict()
      .describe('Default-deny egress: what each phase may reach.')
      .optional(),
    setupCommands: list(z.string().min(1, 'a setup command cannot be empty'), 'Shell command lines run in the task before the agent starts, under the setup network rules. From a repository that is not accepted, each passes the command rules like an agent command (an ask waits for a reviewer).'),
    commands: z
      .object({
        allow: list(commandPatternText, 'Commands that run without asking, as argv patterns ("npm test", "npm run lint*"). Loosens; needs acceptance when it comes from a repository. Never lowers a built-in gate.'),
        ask: list(commandPatternText, 'Commands that wait for a reviewer ("npm run publish-*"). Always applies.'),
        deny: list(commandPatternText, 'Commands that are refused ("curl"). Always applies.'),
        default: z.enum(COMMAND_DEFAULTS).describe('Decision for commands no rule names. "ask" (stricter) wins whenever any layer asks for it.').optional(),
        approvalTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).describe('How long a gated command waits for a reviewer before it is refused (built-in 600).').optional(),
      })
      .strict()
      .describe('Which commands run, which wait for a reviewer, which are refused.')
      .optional(),
    env: z
      .object({
        passthrough: list(envName, 'Host variables copied into the task by name. Loosens (host values enter the sandbox); needs acceptance when it comes from a repository.'),
        set: z.record(envName, z.string()).describe('Variables set to fixed values inside the task.').optional(),
        allowSecret: list(envName, 'Secret-looking names allowed in anyway. Loosens; needs acceptance when it comes from a repository.'),
      })
      .strict()
      .describe('The task environment, built from an allowlist.')
      .optional(),
    secretFiles: z
      .object({
        exclude: list(z.string().min(1).refine((text) => !text.startsWith('!'), 'a "!" pattern would copy files back in; use secretFiles.include'), 'More gitignore-style patterns left out of the workspace copy. Always applies.'),
        include: list(z.string().min(1), 'Paths the built-in secret patterns would leave out but the task needs (e.g. ".env.example"). Loosens; needs acceptance when it comes from a repository.'),
      })
      .strict()
      .describe('Files kept out of the private workspace copy.')
      .optional(),
    riskyPaths: list(z.string().min(1), 'Globs whose changes are flagged in review and never taken by a blanket yes, in addition to the built-in list.'),
  })
  .strict()
  .describe('Airlock sandbox policy for this repository. A repository may tighten anything; it may loosen only what a user accepts.');

export type PolicyFileInput = z.input<typeof policyFileSchema>;
export type PolicyLayer = z.output<typeof policyFileSchema>;

/** The JSON Schema for `.airlock.json`, as contributed to VS Code and printed by `airlock policy schema`. */
export function policyJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(policyFileSchema, { io: 'input', unrepresentable: 'any' }), title: 'Airlock policy (.airlock.json)' };
}
