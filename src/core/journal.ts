// What the install journal writes down (install/journal.ts keeps it): how to take each change back,
// and the tidy-up once a run committed.

/** How to take one change back; every entry is harmless when the change it undoes never happened. */
export type UndoEntry =
  /** something this run created (file or folder tree) */
  | { undo: "remove"; path: string }
  /** a file this run replaced: put the copy at `from` back, then drop the copy */
  | { undo: "restore-file"; path: string; from: string; mode: number }
  /** something this run moved aside (`to` -> `from`): move it back */
  | { undo: "rename"; from: string; to: string }
  /** a copy of a folder this run is about to change: replace the folder with it */
  | { undo: "move-tree"; from: string; to: string }
  | { undo: "remove-empty-dirs"; paths: string[] }
  /** a command that reverses one this run ran (unload a service it loaded) */
  | { undo: "run"; argv: string[]; mayFail?: boolean }
  /** the crontab as it was before this run changed it, and as this run wrote it */
  | { undo: "crontab"; contents: string; after: string };

/** Tidy-up once an install committed: what it moved aside or copied only for a rollback goes. */
export type CommitEntry = { then: "remove"; path: string } | { then: "remove-empty-dirs"; paths: string[] };
