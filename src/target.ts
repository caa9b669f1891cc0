// A routes.yaml target compiled once per config: origin, path template, headers and timeout,
// and the one function that turns a tool call's arguments into a safe request path.

import { DEFAULT_UPSTREAM_TIMEOUT_MS, type Upstream } from './config/schema.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

type PathPart = { literal: string } | { argument: string };

export interface CompiledTarget {
  /** Method, origin and path as written: how the outbox finds this target again after a restart. */
  readonly id: string;
  /** Upstream name, or the origin of a `url:` target: what logs and metrics call it. */
  readonly label: string;
  /** `scheme://host:port`, the key of its connection pool. */
  readonly origin: string;
  /** The path as written, placeholders included: for `check` and logs. */
  readonly pathTemplate: string;
  readonly pathParts: readonly PathPart[];
  readonly placeholders: ReadonlySet<string>;
  readonly method: HttpMethod;
  /** Upstream headers, then the target's own; keys lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly body: 'arguments' | 'message';
  readonly secret: string | undefined;
}

export interface TargetSpec {
  upstream?: string | undefined;
  path?: string | undefined;
  url?: string | undefined;
  method?: HttpMethod | undefined;
  headers?: Record<string, string> | undefined;
  timeout?: number | undefined;
  secret?: string | undefined;
  body?: 'arguments' | 'message' | undefined;
}

const originPattern = /^(https?:\/\/[^/?#]+)(.*)$/i;
const NO_PLACEHOLDERS: ReadonlySet<string> = new Set();

export interface TargetCompiler {
  compile(spec: TargetSpec, defaults: { path: string; body: 'arguments' | 'message' }): CompiledTarget;
  /** The origin `compile` would give the target, without compiling it. */
  originOf(spec: TargetSpec): string;
}

export function compileTarget(spec: TargetSpec, upstreams: Readonly<Record<string, Upstream>>, defaults: { path: string; body: 'arguments' | 'message' }): CompiledTarget {
  return createTargetCompiler(upstreams).compile(spec, defaults);
}

/**
 * Compiles the targets of one config. What targets share is worked out once: the origin of each
 * scheme://host:port (a URL parse) and each upstream's lower-cased headers, which a target
 * without headers of its own shares.
 */
export function createTargetCompiler(upstreams: Readonly<Record<string, Upstream>>): TargetCompiler {
  const origins = new Map<string, string>();
  const upstreamHeaders = new Map<string, Readonly<Record<string, string>>>();
  const originOfAuthority = (authority: string) => {
    let origin = origins.get(authority);
    if (origin === undefined) origins.set(authority, (origin = new URL(authority).origin));
    return origin;
  };
  const upstreamOrigins = new Map<string, string>();
  const originOfAddress = (address: string) => {
    const match = originPattern.exec(address);
    if (!match) throw new Error(`not an absolute URL: ${address}`);
    return originOfAuthority(match[1]!);
  };
  const upstreamOf = (spec: TargetSpec) => {
    const upstream = spec.upstream !== undefined ? upstreams[spec.upstream] : undefined;
    if (spec.upstream !== undefined && !upstream) throw new Error(`upstream "${spec.upstream}" is not declared`);
    return upstream;
  };
  const headersOf = (name: string | undefined, upstream: Upstream | undefined, own: Record<string, string> | undefined) => {
    if (own !== undefined || name === undefined) return lowerCaseKeys({ ...upstream?.headers, ...own });
    let shared = upstreamHeaders.get(name);
    if (shared === undefined) upstreamHeaders.set(name, (shared = lowerCaseKeys({ ...upstream?.headers })));
    return shared;
  };
  const compile: TargetCompiler['compile'] = (spec, defaults) => {
    const upstream = upstreamOf(spec);
    const address = upstream ? joinPath(upstream.url, spec.path ?? defaults.path) : spec.url!;
    const match = originPattern.exec(address);
    if (!match) throw new Error(`not an absolute URL: ${address}`);
    const origin = originOfAuthority(match[1]!);
    const rest = match[2] === '' ? '/' : match[2]!;
    const pathTemplate = rest.startsWith('/') ? rest : `/${rest}`;
    const pathParts = parseTemplate(pathTemplate);
    const method = spec.method ?? 'POST';
    const placeholders = pathParts.length > 1 || (pathParts[0] !== undefined && 'argument' in pathParts[0]) ? new Set(pathParts.flatMap((p) => ('argument' in p ? [p.argument] : []))) : NO_PLACEHOLDERS;
    return {
      id: `${method} ${origin}${pathTemplate}`,
      label: spec.upstream ?? origin,
      origin,
      pathTemplate,
      pathParts,
      placeholders,
      method,
      headers: headersOf(spec.upstream, upstream, spec.headers),
      timeoutMs: spec.timeout ?? upstream?.timeout ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      body: spec.body ?? defaults.body,
      secret: spec.secret,
    };
  };
  return {
    compile,
    // Joining a path never changes the scheme://host:port of the upstream's URL.
    originOf(spec) {
      if (spec.upstream !== undefined) {
        let origin = upstreamOrigins.get(spec.upstream);
        if (origin === undefined) upstreamOrigins.set(spec.upstream, (origin = originOfAddress(upstreamOf(spec)!.url)));
        return origin;
      }
      return originOfAddress(spec.url!);
    },
  };
}

/** Joins a base URL (which may carry a base path) and a path with exactly one `/`. */
export function joinPath(base: string, path: string): string {
  if (path === '') return base;
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function parseTemplate(template: string): PathPart[] {
  if (!template.includes('{')) return template === '' ? [] : [{ literal: template }];
  const parts: PathPart[] = [];
  const pattern = /\{([^{}]+)\}/g;
  let last = 0;
  for (let m = pattern.exec(template); m !== null; m = pattern.exec(template)) {
    if (m.index > last) parts.push({ literal: template.slice(last, m.index) });
    parts.push({ argument: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ literal: template.slice(last) });
  return parts;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

export type RequestPath = { ok: true; path: string } | { ok: false; missing: string } | { ok: false; invalid: string };

/**
 * The request path for these arguments: every placeholder URL-encoded (so an argument can never
 * change the host or add a path segment) and, for GET/DELETE, the unused arguments as the query.
 */
export function requestPath(target: CompiledTarget, args: Readonly<Record<string, unknown>> | undefined): RequestPath {
  let path = '';
  for (const part of target.pathParts) {
    if ('literal' in part) {
      path += part.literal;
      continue;
    }
    const value = args?.[part.argument];
    if (value === undefined || value === null || value === '') return { ok: false, missing: part.argument };
    const text = queryValue(value);
    // "." and ".." would be dot-segments (encoded or not): they could reach another endpoint.
    if (text === '.' || text === '..') return { ok: false, invalid: part.argument };
    path += encodeURIComponent(text);
  }
  if (args && (target.method === 'GET' || target.method === 'DELETE')) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(args)) {
      if (!target.placeholders.has(key) && value !== undefined && value !== null) query.append(key, queryValue(value));
    }
    const encoded = query.toString();
    if (encoded !== '') path += (path.includes('?') ? '&' : '?') + encoded;
  }
  return { ok: true, path };
}

function queryValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}
