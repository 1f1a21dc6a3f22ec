import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { AirlockSession } from '../session/airlockSession.js';

const SCHEME = 'airlock-log';
/** An open log shows its newest records: a chatty task's whole log is for `airlock audit`. */
const TAIL_RECORDS = 5000;
/** Records land in bursts (a command, a connection); one redraw per burst. */
const REDRAW_MS = 300;
type LogKind = 'audit' | 'network';

/** A task's audit or network log as a read-only editor: `airlock-log:/<task>/audit.log`. */
export const logUri = (task: string, kind: LogKind) => vscode.Uri.from({ scheme: SCHEME, path: `/${task}/${kind}.log` });

function parse(uri: vscode.Uri): { task: string; kind: LogKind } | undefined {
  const match = /^\/([a-f0-9]{12})\/(audit|network)\.log$/.exec(uri.path);
  return match ? { task: match[1], kind: match[2] as LogKind } : undefined;
}

/**
 * Serves the logs as readable text (the JSON lines stay on disk as the contract; `airlock audit`
 * prints them). An open log follows its file: a watch on the audit log redraws it as records land.
 */
export function registerLogDocuments(context: vscode.ExtensionContext, session: AirlockSession): void {
  const { core } = session;
  const changed = new vscode.EventEmitter<vscode.Uri>();
  const watches = new Map<string, fs.FSWatcher>();
  const pending = new Map<string, NodeJS.Timeout>();
  const redraw = (uri: vscode.Uri) => {
    const key = uri.toString();
    if (pending.has(key)) return;
    pending.set(key, setTimeout(() => {
      pending.delete(key);
      changed.fire(uri);
    }, REDRAW_MS));
  };

  const follow = (uri: vscode.Uri, file: string) => {
    const key = uri.toString();
    if (watches.has(key)) return;
    try {
      const watch = fs.watch(file, { persistent: false }, () => redraw(uri));
      watch.on('error', () => watches.delete(key));
      watches.set(key, watch);
    } catch {
      // no log yet: the task events redraw it
    }
  };

  const provider: vscode.TextDocumentContentProvider = {
    onDidChange: changed.event,
    provideTextDocumentContent(uri) {
      const target = parse(uri);
      if (!target) return 'not an Airlock log\n';
      const record = session.store.load(target.task);
      if (!record) return `task ${target.task} has no record on this machine\n`;
      const audit = session.store.audit(record.id);
      follow(uri, audit.file);
      const header = `Airlock ${target.kind} log — task ${record.id}, ${core.printableLine(record.workspace)}, ${record.image} (${record.runtime})${record.destroyedAt ? `, ended ${record.destroyedAt}` : ''}\n${audit.file}\n\n`;
      const tail = <T>(records: T[]) => (records.length > TAIL_RECORDS ? { shown: records.slice(-TAIL_RECORDS), note: `(the newest ${TAIL_RECORDS} of ${records.length} records; all of them: \`airlock audit ${record.id}\`)\n` } : { shown: records, note: '' });
      if (target.kind === 'network') {
        const { records, unreadable } = core.networkRecords(audit);
        const { shown, note } = tail(records);
        const mode = record.options.network === 'allowlist' ? 'allowlist (default deny, every connection logged)' : 'deny: no network at all';
        return `${header}network: ${mode}\n${note}${unreadable ? `(${unreadable} unreadable line(s) left out)\n` : ''}\n${core.printableLines(core.formatNetworkLog(shown))}`;
      }
      const { records, unreadable } = audit.readRecords();
      const { shown, note } = tail(records);
      return header + note + core.formatAuditLog(shown, unreadable);
    },
  };

  context.subscriptions.push(
    changed,
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, provider),
    vscode.workspace.onDidCloseTextDocument((document) => {
      const key = document.uri.toString();
      watches.get(key)?.close();
      watches.delete(key);
    }),
    session.onDidChangeTasks(() => {
      for (const document of vscode.workspace.textDocuments) if (document.uri.scheme === SCHEME) redraw(document.uri);
    }),
    {
      dispose: () => {
        watches.forEach((watch) => watch.close());
        pending.forEach((timer) => clearTimeout(timer));
      },
    },
  );
}
