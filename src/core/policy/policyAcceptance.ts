import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { currentUser } from '../ground/currentUser.js';
import { replaceFile } from '../ground/syncedWrite.js';
import type { Loosening } from './policyLayers.js';

const acceptanceSchema = z.object({
  workspace: z.string(),
  digest: z.string(),
  loosenings: z.array(z.object({ field: z.string(), value: z.string(), why: z.string() })),
  acceptedAt: z.string(),
  by: z.string(),
});
export type AcceptanceRecord = z.infer<typeof acceptanceSchema>;

/** A stable digest of a policy's meaning: key order, comments and whitespace do not change it. */
export function canonicalDigest(value: unknown): string {
  const canonical = (item: unknown): unknown => {
    if (Array.isArray(item)) return item.map(canonical);
    if (item && typeof item === 'object') return Object.fromEntries(Object.keys(item).sort().map((key) => [key, canonical((item as Record<string, unknown>)[key])]));
    return item;
  };
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex');
}

/**
 * Which repository policies the user accepted, per workspace, in the host-only state folder (the
 * sandbox never sees it). Acceptance is of one exact digest: any change to the policy asks again.
 */
export class PolicyAcceptances {
  constructor(private readonly stateDir: string) {}

  private fileFor(workspace: string): { key: string; file: string } {
    const key = realWorkspace(workspace);
    return { key, file: path.join(this.stateDir, 'policy-acceptance', `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.json`) };
  }

  get(workspace: string): AcceptanceRecord | undefined {
    const { key, file } = this.fileFor(workspace);
    try {
      const record = acceptanceSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
      return record.workspace === key ? record : undefined;
    } catch {
      return undefined;
    }
  }

  accept(workspace: string, digest: string, loosenings: Loosening[]): AcceptanceRecord {
    const { key, file } = this.fileFor(workspace);
    const record: AcceptanceRecord = { workspace: key, digest, loosenings, acceptedAt: new Date().toISOString(), by: currentUser() };
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    replaceFile(file, JSON.stringify(record, null, 2) + '\n');
    return record;
  }

  revoke(workspace: string): boolean {
    const { file } = this.fileFor(workspace);
    const existed = fs.existsSync(file);
    fs.rmSync(file, { force: true });
    return existed;
  }
}

function realWorkspace(workspace: string): string {
  try {
    return fs.realpathSync(workspace);
  } catch {
    return path.resolve(workspace);
  }
}
