import type * as Core from '../../core/index.js';
import type { ApprovalRequest, TaskOverview } from '../../core/index.js';

/** One line under a request in the Approvals view; `items` makes it a collapsible list (a push's files). */
export interface RequestRow {
  key: string;
  label: string;
  value: string;
  icon: string;
  items?: string[];
}

type Formatting = Pick<typeof Core, 'shortDuration' | 'printableLine'>;

const KIND: Record<ApprovalRequest['kind'], { title: string; icon: string }> = {
  command: { title: 'Command', icon: 'terminal' },
  network: { title: 'Network destination', icon: 'globe' },
  push: { title: 'Push', icon: 'repo-push' },
  apply: { title: 'Apply to the host', icon: 'diff' },
};

export const kindIcon = (request: ApprovalRequest) => KIND[request.kind].icon;

/** A remote URL as shown: credentials in it (`https://user:token@host/…`) are not. */
const withoutCredentials = (url: string) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1…@');

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map((item) => String(item)) : []);
const text = (value: unknown) => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

/** The line a reviewer reads first: what is asked for, in a few words. */
export function requestTitle(core: Formatting, request: ApprovalRequest): string {
  const subject = core.printableLine(request.subject);
  switch (request.kind) {
    case 'command':
      return `Run: ${subject}`;
    case 'network':
      return `Connect to ${subject}`;
    case 'push':
      return `Push ${core.printableLine(text(request.details?.commit)).slice(0, 10)} to ${core.printableLine(text(request.details?.branch))} (${strings(request.details?.files).length} files)`;
    case 'apply':
      return `Apply ${strings(request.details?.files).length} change(s) to the host`;
  }
}

export function requestDescription(core: Formatting, request: ApprovalRequest, task: TaskOverview | undefined, now = Date.now()): string {
  return `${task ? core.printableLine(task.folder) : 'task'} ${request.task} · ${core.shortDuration(Date.parse(request.expiresAt) - now)} left`;
}

/** Everything needed to decide, in the order a reviewer asks: what, where, why, who, how long. */
export function requestRows(core: Formatting, request: ApprovalRequest, task: TaskOverview | undefined, now = Date.now()): RequestRow[] {
  const details = request.details ?? {};
  const rows: RequestRow[] = [{ key: 'what', label: KIND[request.kind].title, value: request.subject, icon: KIND[request.kind].icon }];
  if (request.kind === 'push') {
    rows.push(
      { key: 'remote', label: 'Remote', value: `${text(details.remote)} (${withoutCredentials(text(details.url))})`, icon: 'cloud-upload' },
      { key: 'branch', label: 'Branch', value: text(details.branch), icon: 'git-branch' },
      { key: 'commit', label: 'Commit', value: `${text(details.commit)}${details.base ? ` on ${text(details.base).slice(0, 12)}` : ''}`, icon: 'git-commit' },
    );
  }
  const files = strings(details.files);
  if (request.kind === 'push' || request.kind === 'apply') rows.push({ key: 'files', label: 'Files', value: `${files.length}`, icon: 'files', items: files });
  if (request.kind === 'apply' && details.changeSet) rows.push({ key: 'changeSet', label: 'Change set', value: text(details.changeSet).slice(0, 32), icon: 'diff' });
  const held = strings(details.held);
  if (held.length) rows.push({ key: 'held', label: 'Held back', value: `${held.length}`, icon: 'warning', items: held });
  rows.push({ key: 'task', label: 'Task', value: `${request.task}${task ? ` — ${task.workspace}` : ''}`, icon: 'vm' });
  if (request.cwd) rows.push({ key: 'cwd', label: 'In', value: request.cwd, icon: 'folder' });
  if (request.phase) rows.push({ key: 'phase', label: 'Phase', value: request.phase, icon: 'debug-step-over' });
  rows.push({ key: 'why', label: 'Why it was gated', value: request.reason, icon: 'law' });
  rows.push({ key: 'by', label: 'Asked by', value: request.requestedBy ?? 'unknown (filed by an older Airlock)', icon: 'person' });
  rows.push({ key: 'time', label: 'Time left', value: `${core.shortDuration(Date.parse(request.expiresAt) - now)}, refused at ${new Date(request.expiresAt).toLocaleTimeString()} unless decided`, icon: 'watch' });
  return rows.map((row) => ({ ...row, value: core.printableLine(row.value), ...(row.items ? { items: row.items.map((item) => core.printableLine(item)) } : {}) }));
}
