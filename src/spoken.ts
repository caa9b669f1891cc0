// Short sentences the assistant can speak when a tool has no real result: built-in defaults per
// failure reason. They never name hosts, status codes or stack traces.

import type { FailureReason } from './forward.js';

/** "book_appointment" -> "book appointment": how a caller would hear the tool's name. */
export function spokenToolName(tool: string): string {
  return tool.replace(/[_\-.]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim().toLowerCase() || 'tool';
}

export function builtInFallback(reason: FailureReason, tool: string): string {
  const service = `The ${spokenToolName(tool)} service`;
  switch (reason) {
    case 'timeout':
      return `${service} did not answer in time.`;
    case 'unavailable':
      return `${service} is not reachable right now.`;
    case 'error':
      return `${service} could not handle this request.`;
  }
}
