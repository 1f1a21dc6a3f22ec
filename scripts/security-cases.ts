/**
 * Prints the red-team suite's case table for SECURITY.md from the case lists themselves
 * (test/security/cases/*.ts): id, what it tries, what it would have let an attacker do, and the
 * file that runs it, grouped by category. `node --import tsx scripts/security-cases.ts`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATEGORIES, type Category, type SecurityCase } from '../test/security/securityCase.js';

async function main(): Promise<void> {
  const dir = path.resolve('test/security/cases');
  const rows: Array<{ file: string; item: SecurityCase<unknown> }> = [];
  for (const name of fs.readdirSync(dir).filter((entry) => entry.endsWith('.ts')).sort()) {
    const module = (await import(path.join(dir, name))) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (Array.isArray(value)) for (const item of value as unknown[]) if (item && typeof item === 'object' && 'attack' in item && 'run' in item) rows.push({ file: name.replace(/\.ts$/, ''), item: item as SecurityCase<unknown> });
    }
  }
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
  const out = [`${rows.length} cases in ${Object.keys(CATEGORIES).length} groups.`, ''];
  for (const [category, title] of Object.entries(CATEGORIES) as Array<[Category, string]>) {
    const inGroup = rows.filter(({ item }) => item.category === category);
    out.push(`### ${title} (${inGroup.length})`, '', '| Case | What it tries | What getting through would have let an attacker do | Run by |', '|---|---|---|---|');
    for (const { file, item } of inGroup) out.push(`| \`${item.id}\` | ${cell(item.title)}${item.knownGap ? ` **Known gap:** ${cell(item.knownGap)}.` : ''} | ${cell(item.attack)}${item.source ? ` (${cell(item.source)})` : ''} | security/${file}.test.ts |`);
    out.push('');
  }
  process.stdout.write(out.join('\n'));
}

void main();
