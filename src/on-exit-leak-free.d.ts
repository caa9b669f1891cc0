// Types for on-exit-leak-free (pino's own exit hook library, which ships none): runs `fn(obj)` on
// process exit while holding `obj` only weakly.
declare module 'on-exit-leak-free' {
  export function register<T extends object>(obj: T, fn: (obj: T, event: 'exit') => void): void;
  export function unregister(obj: object): void;
}
