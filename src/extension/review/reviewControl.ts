import * as vscode from 'vscode';
import type * as Core from '../../core/index.js';
import type { ReviewGroup, ReviewItem, TaskReview } from '../../core/index.js';
import { GROUP_LABELS, itemSentence } from './reviewLabels.js';
import { reviewUri } from './reviewUris.js';

const GROUP_ORDER: readonly ReviewGroup[] = ['conflicts', 'risky', 'changes', 'never'];

/** Which review and file a resource row stands for: menus hand back the row object itself. */
export interface ReviewResource extends vscode.SourceControlResourceState {
  readonly key: string;
  readonly item: ReviewItem;
}

/**
 * One review as a source-control view ("Airlock: <task>"): Conflicts, Risky, Changes and Never
 * applied, one row per file with its sentence as the tooltip, rejected and unchosen files faded.
 * Rows are rebuilt from the review's items when it says they changed; nothing here reads a file,
 * so a thousand files draw as fast as their rows.
 */
export class ReviewControl implements vscode.Disposable {
  readonly scm: vscode.SourceControl;
  private readonly groups = new Map<ReviewGroup, vscode.SourceControlResourceGroup>();
  private readonly subscription: { dispose(): void };
  private scheduled = false;

  constructor(private readonly core: typeof Core, readonly key: string, readonly review: TaskReview, label: string) {
    const { task } = review;
    // The provider id is what menus test (`scmProvider`): a request's review has only Approve and Deny.
    this.scm = vscode.scm.createSourceControl(review.readOnly ? 'airlock-request' : 'airlock', label, vscode.Uri.file(task.workspace));
    this.scm.inputBox.visible = false;
    for (const group of GROUP_ORDER) {
      const resourceGroup = this.scm.createResourceGroup(`airlock.${group}`, GROUP_LABELS[group]);
      resourceGroup.hideWhenEmpty = group !== 'changes';
      this.groups.set(group, resourceGroup);
    }
    this.subscription = review.onDidChange(() => this.schedule());
    this.render();
  }

  /** Several changes in one turn of the event loop draw once. */
  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.render();
    });
  }

  private render() {
    const rows = new Map<ReviewGroup, ReviewResource[]>(GROUP_ORDER.map((group) => [group, []]));
    let taken = 0;
    for (const item of this.review.items()) {
      rows.get(item.group)!.push(this.row(item));
      if (item.taken) taken++;
    }
    for (const [group, resources] of rows) this.groups.get(group)!.resourceStates = resources;
    this.scm.count = taken;
  }

  private row(item: ReviewItem): ReviewResource {
    const readOnly = this.review.readOnly;
    const flags = [`group=${item.group}`, `taken=${item.taken ? 1 : 0}`, `choice=${item.choice ?? 'none'}`, `edited=${item.edited ? 1 : 0}`, `merge=${item.mergeable ? 1 : 0}`, `request=${readOnly ? 1 : 0}`];
    return {
      key: this.key,
      item,
      resourceUri: reviewUri({ key: this.key, side: 'proposed', path: item.path }),
      command: { title: 'Open Diff', command: 'airlock.review.openDiff', arguments: [this.key, item.path] },
      contextValue: `airlock.file;${flags.join(';')}`,
      decorations: {
        tooltip: itemSentence(this.core, item, readOnly),
        strikeThrough: item.change.status === 'deleted',
        faded: !item.taken,
      },
    };
  }

  dispose(): void {
    this.subscription.dispose();
    this.scm.dispose();
  }
}
