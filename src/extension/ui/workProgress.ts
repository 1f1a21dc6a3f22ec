import * as vscode from 'vscode';
import type { ProgressUpdate } from '../../core/index.js';

/** The percentage and step line of a progress notification, from the core's weighted fraction. */
export function progressText(update: ProgressUpdate, printable: (text: string) => string): { percent: number; message: string } {
  const percent = Math.round((update.fraction ?? 0) * 100);
  const count = update.files ? ` (${update.files.done}/${update.files.total} files)` : update.unit === 'files' && update.total ? ` (${update.done ?? 0}/${update.total} files)` : '';
  return { percent, message: `${percent}% — ${printable(update.message)}${count}` };
}

/**
 * Long core work (a start, an apply, an undo) under one progress notification: real percentages
 * from the core's updates, and Cancel as the work's AbortSignal, which the core honours up to its
 * commit point. `onUpdate` sees each update with its text, for a log.
 */
export function withWorkProgress<T>(
  title: string,
  printable: (text: string) => string,
  work: (options: { signal: AbortSignal; onProgress: (update: ProgressUpdate) => void }) => Promise<T>,
  onUpdate?: (update: ProgressUpdate, message: string) => void,
): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    let shown = 0;
    try {
      return await work({
        signal: abort.signal,
        onProgress: (update) => {
          const { percent, message } = progressText(update, printable);
          onUpdate?.(update, message);
          progress.report({ increment: Math.max(0, percent - shown), message });
          shown = Math.max(shown, percent);
        },
      });
    } finally {
      cancel.dispose();
    }
  });
}
