// Warnings about single values that are valid but likely mistakes: secrets anyone could guess and
// a timestamp tolerance in milliseconds meant as seconds. Shared by the positioned loader and the
// fast path, so both apply the same rules.

/** `secrets` lists and `secret` values of the config's own maps are secrets... */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['secrets', 'secret']);
/** ...but not a `secret` inside a static reply or headers, which are passed on as they are. */
export const OPAQUE_KEYS: ReadonlySet<string> = new Set(['static', 'headers']);

/** What to say about this secret, or undefined when it is fine. */
export function weakSecretMessage(secret: string): string | undefined {
  if (secret.includes('change-me')) {
    return 'this is the demo secret from the shipped routes.yaml: anyone can sign requests with it. Set a real one (e.g. openssl rand -hex 32) before exposing the gateway';
  }
  if (secret.length > 0 && secret.length < 16) {
    return `this secret is only ${secret.length} characters: use at least 16 random characters (e.g. openssl rand -hex 32)`;
  }
  return undefined;
}

/** The tolerance warning: a bare number below 1000 is most likely seconds written as milliseconds. */
export function toleranceMessage(tolerance: unknown): string | undefined {
  return typeof tolerance === 'number' && tolerance < 1000 ? `timestamp_tolerance: ${tolerance} is ${tolerance} milliseconds; did you mean ${tolerance}s?` : undefined;
}
