import type { EmulatorCore } from './context.js';
import {
  EmulatorGraphError,
  type ErrorSurface,
  errorBody,
  httpStatusFor,
  wwwAuthenticate,
} from './graph-errors.js';

/** What every Graph response carries besides its body (facts §10). */
export interface ResponseMeta {
  trace: string;
  version: string;
  appUsage: string | undefined;
  businessUsage: string | undefined;
}

export const CACHE_CONTROL = 'private, no-cache, no-store, must-revalidate';

export function metaHeaders(meta: ResponseMeta): Record<string, string> {
  const h: Record<string, string> = {
    'x-fb-trace-id': meta.trace,
    'x-fb-request-id': meta.trace,
    'facebook-api-version': meta.version,
    'cache-control': CACHE_CONTROL,
  };
  if (meta.appUsage) h['x-app-usage'] = meta.appUsage;
  if (meta.businessUsage) h['x-business-use-case-usage'] = meta.businessUsage;
  return h;
}

/** Status, headers and body of Meta's error response for `err` (anything not a Graph error becomes code 1, 500). */
export function graphErrorParts(
  core: EmulatorCore,
  err: unknown,
  surface: ErrorSurface,
  meta: ResponseMeta,
): { status: number; headers: Record<string, string>; body: string } {
  const spec =
    err instanceof EmulatorGraphError
      ? err.spec
      : { code: 1, message: 'An unknown error has occurred.', isTransient: true, status: 500 };
  const status = spec.status ?? httpStatusFor(core.settings.errorStatus, spec.code, spec.subcode, surface);
  const headers: Record<string, string> = {
    ...metaHeaders(meta),
    'content-type': 'application/json; charset=UTF-8',
  };
  if (spec.wwwAuthenticate) headers['www-authenticate'] = wwwAuthenticate(spec.wwwAuthenticate, spec.message);
  return { status, headers, body: JSON.stringify(errorBody(spec, meta.trace)) };
}
