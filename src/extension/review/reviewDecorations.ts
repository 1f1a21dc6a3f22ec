import * as vscode from 'vscode';
import type { ReviewItem, TaskReview } from '../../core/index.js';
import { statusLetter } from './reviewLabels.js';
import { parseReviewUri } from './reviewUris.js';

/**
 * Badges for the review's rows (and its editor tabs): the status letter, with `!` and the warning
 * colour for a risky file, `!` in the error colour for a conflict, and a faded colour for what can
 * never be applied. Only this scheme is decorated, so the Explorer is left alone.
 */
export class ReviewDecorations implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri[] | undefined>();
  readonly onDidChangeFileDecorations = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor(private readonly review: (key: string) => TaskReview | undefined) {
    this.registration = vscode.window.registerFileDecorationProvider(this);
  }

  refresh(uris?: vscode.Uri[]): void {
    this.changed.fire(uris);
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    const location = parseReviewUri(uri);
    if (!location || location.side !== 'proposed') return undefined;
    const item = this.review(location.key)?.item(location.path);
    return item ? decoration(item) : undefined;
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

function decoration(item: ReviewItem): vscode.FileDecoration {
  const letter = statusLetter(item);
  switch (item.group) {
    case 'conflicts':
      return new vscode.FileDecoration('!', 'conflict with the host', new vscode.ThemeColor('list.errorForeground'));
    case 'risky':
      return new vscode.FileDecoration(`${letter}!`, 'risky: needs your choice', new vscode.ThemeColor('list.warningForeground'));
    case 'never':
      return new vscode.FileDecoration(letter, 'never applied', new vscode.ThemeColor('disabledForeground'));
    default:
      return new vscode.FileDecoration(letter, item.change.status, new vscode.ThemeColor(item.change.status === 'added' ? 'gitDecoration.addedResourceForeground' : item.change.status === 'deleted' ? 'gitDecoration.deletedResourceForeground' : 'gitDecoration.modifiedResourceForeground'));
  }
}
