// ${NAME} and ${NAME:-default} in routes.yaml values: the one definition of what a reference is
// and what it becomes, shared by the positioned loader and the fast path for large files.

export type SubstitutionProblem = { index: number; message: string };

const reference = /\$\{([^}]*)\}/g;
const onlyReference = /^\$\{[^}]*\}$/;
const referenceBody = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * The text with every reference replaced from `env`: a set, non-empty variable wins, then the
 * default; each reference that is malformed or unset is reported (at its index in `text`) and
 * replaced by nothing. A substituted value is taken literally, never substituted again.
 */
export function substitute(text: string, env: NodeJS.ProcessEnv, problem: (found: SubstitutionProblem) => void): string {
  return text.replace(reference, (match: string, body: string, index: number) => {
    const parts = referenceBody.exec(body);
    if (!parts) {
      problem({ index, message: `"${match}" is not a valid reference: write \${NAME} or \${NAME:-default}, with a name of letters, digits and _` });
      return '';
    }
    const [, name, fallback] = parts as unknown as [string, string, string | undefined];
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    problem({ index, message: `environment variable ${name} is not set (used as \${${name}}); set it, or write \${${name}:-default}` });
    return '';
  });
}

/** An unquoted value that is only a reference takes the type its substituted text has in YAML. */
export function isOnlyReference(text: string): boolean {
  return onlyReference.test(text);
}
