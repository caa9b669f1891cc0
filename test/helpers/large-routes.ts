// A large routes.yaml like the benchmark's (bench/gateways.mjs): one upstream and `assistants`
// assistants a0…aN-1 with a phone number and 10 tools each, so 1,000 assistants are 10,000 tools.

export const TOOLS_PER_ASSISTANT = 10;
const TOOL_NAMES = ['fast_a', 'fast_b', 'fast_c', 'slow_a', 'slow_b', 'slow_c', 'hold_a', 'hold_b', 'hold_c', 'hold_d'];

export interface LargeRoutesOptions {
  assistants: number;
  secret?: string;
  backend?: string;
  /** Lines placed right after `version: 1`, for a test's own settings. */
  head?: string[];
}

/** The text, and the line (1-based) of each assistant's first tool: where tests put problems. */
export function largeRoutesYaml(options: LargeRoutesOptions): { text: string; firstToolLine: (assistant: number) => number } {
  const lines = [
    'version: 1',
    ...(options.head ?? []),
    `account: { secrets: ["${options.secret ?? `large-${'0123456789abcdef'.repeat(3)}`}"] }`,
    'defaults: { fallback: "Sorry, that system is not answering right now." }',
    'upstreams:',
    `  backend: { url: "${options.backend ?? 'http://127.0.0.1:9'}" }`,
    'assistants:',
  ];
  const firstLines: number[] = [];
  for (let i = 0; i < options.assistants; i++) {
    lines.push(`  a${i}:`, `    phone_numbers: ["+3120${String(i).padStart(7, '0')}"]`, '    tools:');
    firstLines.push(lines.length + 1);
    for (const [n, name] of TOOL_NAMES.entries()) {
      lines.push(`      ${name}: { upstream: backend, path: /d${n}/a${i}/${name}${n >= 6 ? ', timeout: 8s' : ''} }`);
    }
  }
  return { text: `${lines.join('\n')}\n`, firstToolLine: (assistant) => firstLines[assistant]! };
}
