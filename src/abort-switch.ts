// A cheap abort signal for the hot path: what an AbortController gives (aborted, reason, one-shot
// "abort" listeners) at a fraction of its cost to create. Every webhook and upstream request needs
// one; undici takes it as a request's signal, and code that takes one also takes an AbortSignal.

/** What the gateway needs of a signal; an AbortSignal and an AbortSwitch both are one. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class AbortSwitch implements AbortSignalLike {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] | undefined;

  /** Aborts once: every listener runs once, later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    // Like an AbortSignal: a listener added after the abort never runs.
    if (!this.aborted) (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    const index = listeners ? listeners.indexOf(listener) : -1;
    if (index !== -1) listeners!.splice(index, 1);
  }
}
