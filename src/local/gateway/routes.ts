// Paths use the gateway's `[name]` syntax; a parameter matches one segment and reaches the backend decoded.
import type { GatewayApi } from './types.js';

export interface RouteMatch {
  api: GatewayApi;
  pathParameters: Record<string, string>;
}

interface CompiledApi {
  api: GatewayApi;
  segments: ({ literal: string } | { param: string })[];
}

export function compileRoutes(apis: GatewayApi[]): (method: string, path: string) => RouteMatch | undefined {
  const compiled: CompiledApi[] = apis.map((api) => {
    if (!api.path.startsWith('/')) throw new TypeError(`Expected API path to start with "/", got ${JSON.stringify(api.path)}`);
    return {
      api,
      segments: split(api.path).map((segment) => {
        const param = /^\[(\w+)\]$/.exec(segment);
        return param?.[1] ? { param: param[1] } : { literal: segment };
      }),
    };
  });

  return (method, path) => {
    const parts = split(path);
    for (const { api, segments } of compiled) {
      if (api.method.toUpperCase() !== method.toUpperCase()) continue;
      const params = matchSegments(segments, parts);
      if (params) return { api, pathParameters: params };
    }
    return undefined;
  };
}

function matchSegments(segments: CompiledApi['segments'], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    const part = parts[i] ?? '';
    if ('literal' in segment) {
      if (segment.literal !== part) return undefined;
    } else {
      const value = safeDecode(part);
      if (value === undefined || value === '') return undefined;
      params[segment.param] = value;
    }
  }
  return params;
}

/** `/a/b/` and `/a/b` are the same route; `/` has no segments. */
function split(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

export function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
