// Types for examples/backends.mjs, so TypeScript tests can start the example backends.
export interface ExampleBackends {
  urls: { crm: string; calendar: string; orders: string };
  close(): Promise<void>;
}
export function startBackends(options?: { host?: string; ports?: { crm: number; calendar: number; orders: number } }): Promise<ExampleBackends>;
