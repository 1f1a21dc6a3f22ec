import { printableLine, shortDuration, type TaskStatus } from '../core/index.js';

const age = (iso: string) => shortDuration(Date.parse(iso) - Date.now());

export function formatTaskTable(tasks: TaskStatus[]): string {
  if (tasks.length === 0) return 'no tasks\n';
  // The image may be named by a repository's policy or devcontainer, the folder by whoever made it.
  const rows = tasks.map(({ record, state }) => [
    record.id,
    state === 'destroyed' ? `destroyed (${record.destroyReason ?? '?'})` : state,
    state === 'destroyed' ? '-' : age(record.expiresAt),
    `${record.image} (${record.runtime})`,
    record.workspace,
  ].map(printableLine));
  const header = ['ID', 'STATE', 'TTL LEFT', 'IMAGE', 'WORKSPACE'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()).join('\n') + '\n';
}

/** What `ls` shows: live tasks (running or stopped), or every task with `all`; JSON follows the same choice. */
export function shownTasks(tasks: TaskStatus[], all: boolean): TaskStatus[] {
  return all ? tasks : tasks.filter(({ state }) => state !== 'destroyed');
}

/** The `ls` table; when only ended tasks exist, one line that says so and how to see them. */
export function formatTaskList(tasks: TaskStatus[], all: boolean): string {
  const shown = shownTasks(tasks, all);
  const ended = tasks.length - shown.length;
  if (shown.length === 0 && ended > 0) return `no live tasks (${ended} ended; \`airlock ls -a\` lists them)\n`;
  return formatTaskTable(shown);
}
