// Durations ("500ms", "3s", "1m", "2h", "7d" or an integer of milliseconds) and sizes
// ("512kb", "1mb", 1024-based, or an integer of bytes) as written in routes.yaml.

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

// A bare number, quoted or not, is milliseconds (durations) or bytes (sizes).
const durationPattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const sizePattern = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

/** Milliseconds for a duration value, or undefined when it is not one. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = durationPattern.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * durationUnits[match[2] ?? 'ms']!);
}

/** Bytes for a size value, or undefined when it is not one. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = sizePattern.exec(value.trim());
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * sizeUnits[(match[2] ?? 'b').toLowerCase()]!);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
