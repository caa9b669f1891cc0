// `hms-tool-router schema`: prints the JSON Schema of routes.yaml (generated from the zod schema),
// for editors and CI: `hms-tool-router schema > routes.schema.json`.

import { routesJsonSchemaText } from '../config/json-schema.js';

export function runSchema(argv: string[]): number {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write('Usage: hms-tool-router schema\n\nPrints the JSON Schema (draft 2020-12) of routes.yaml on stdout.\n');
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`schema takes no arguments, got ${argv.join(' ')}\nUsage: hms-tool-router schema > routes.schema.json\n`);
    return 1;
  }
  process.stdout.write(routesJsonSchemaText());
  return 0;
}
