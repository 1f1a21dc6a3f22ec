import { test, type TestContext } from 'node:test';

/**
 * The red-team suite's one shape: every case names what it would have let an attacker do, and
 * asserts containment against the real thing (the engine, the gateway, the host's files). The
 * case lists are data (`test/security/cases/*.ts`), so the catalog check can count them and hold
 * SECURITY.md to them without running anything; each `*.test.ts` sets up what its cases attack
 * and registers them with `registerCases`.
 */

export const CATEGORIES = {
  kernel: 'Sockets and kernel interfaces',
  secrets: 'Secrets',
  network: 'Network escapes',
  persistence: 'Persistence that would run on the host after apply',
  changes: 'Tricks in returned changes',
  resources: 'Resource exhaustion',
  routing: 'Switching routing off',
  tasks: 'Other tasks',
} as const;
export type Category = keyof typeof CATEGORIES;

export interface SecurityCase<C> {
  /** Stable and unique across the suite: `<category>.<short-name>`, lowercase with dashes. */
  id: string;
  category: Category;
  /** What the case tries, as a test title reads. */
  title: string;
  /** One sentence: what getting through would have let an attacker do. */
  attack: string;
  /** Where the attack comes from, when a public report describes it (an issue, a CVE). */
  source?: string;
  /** Only where the case needs longer than the file's default. */
  timeoutMs?: number;
  /**
   * A hole the case shows and Airlock has not closed yet, in one sentence: the case still asserts
   * the secure behaviour and runs, reported as a known gap (node:test's todo) instead of failing
   * the suite; SECURITY.md lists it under Limits. Removing this is how the fix is proven.
   */
  knownGap?: string;
  run(context: C, t: TestContext): Promise<void>;
}

export const defineCases = <C>(cases: Array<SecurityCase<C>>): Array<SecurityCase<C>> => cases;

/**
 * Registers each case as a test named `[id] title`. `context` is what the file set up (a task, a
 * gateway); undefined means the engine is missing outside CI, and the case skips. In CI a missing
 * engine has already failed in `realEngine`, so no case can pass by not running.
 */
export function registerCases<C>(cases: ReadonlyArray<SecurityCase<C>>, context: () => C | undefined, timeoutMs = 120_000): void {
  for (const item of cases) {
    test(`[${item.id}] ${item.title}`, { timeout: item.timeoutMs ?? timeoutMs, ...(item.knownGap ? { todo: `known gap: ${item.knownGap}` } : {}) }, async (t) => {
      const ready = context();
      if (ready === undefined) {
        t.skip('no engine');
        return;
      }
      await item.run(ready, t);
    });
  }
}
