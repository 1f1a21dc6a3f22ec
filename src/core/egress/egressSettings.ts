import { z } from 'zod';
import { byteSizeSchema } from '../ground/byteSize.js';
import { phaseRulesSchema } from './egressRules.js';

/** Where the in-task relay listens; the proxy variables point here. */
export const EGRESS_PROXY_PORT = 3128;

export const egressLimitsSchema = z
  .object({
    /** Open connections at once, per task. */
    maxConnections: z.number().int().min(1).max(4096).default(64),
    /** A connection with no bytes either way for this long is closed. */
    idleTimeoutSeconds: z.number().int().min(1).max(24 * 3600).default(300),
    /** Bytes both ways over the task's lifetime; past it, open connections close and new ones are refused. */
    maxBytes: byteSizeSchema('maxBytes').default(8 * 1024 ** 3),
    connectTimeoutSeconds: z.number().int().min(1).max(120).default(10),
  })
  .strict();

export const egressSettingsSchema = z
  .object({
    /** Rules while setup commands run (dependency install, build steps). */
    setup: phaseRulesSchema.default({ allow: [], allowCidr: [], deny: [] }),
    /** Rules once the agent's commands run; nothing is inherited from setup. */
    agent: phaseRulesSchema.default({ allow: [], allowCidr: [], deny: [] }),
    /** Turn destinations no rule decides into approval requests instead of refusing them at once. */
    ask: z.boolean().default(false),
    /** How long a connection waits for a decision before it is refused. */
    approvalTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
    limits: egressLimitsSchema.default({ maxConnections: 64, idleTimeoutSeconds: 300, maxBytes: 8 * 1024 ** 3, connectTimeoutSeconds: 10 }),
  })
  .strict();

export type EgressSettingsInput = z.input<typeof egressSettingsSchema>;
export type EgressSettings = z.output<typeof egressSettingsSchema>;
export type EgressLimits = z.output<typeof egressLimitsSchema>;

/** Variables that point proxy-aware tools at the relay; loopback stays direct for local servers. */
export function proxyEnv(port = EGRESS_PROXY_PORT): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return { HTTP_PROXY: url, HTTPS_PROXY: url, ALL_PROXY: url, NO_PROXY: noProxy, http_proxy: url, https_proxy: url, all_proxy: url, no_proxy: noProxy };
}
