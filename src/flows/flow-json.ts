import { JsonSyntaxError, type PositionedJson, parseWithPositions } from './json-positions.js';
import type { FlowValidationError } from './management-api.js';

/**
 * Offline checks of a Flow JSON: the rules of Meta's Flow JSON reference that need no server (structure, screen ids,
 * terminal screens, data declarations and their examples, `${data.x}` references, navigate/complete actions,
 * `data_api_version` and `routing_model`). Errors are shaped like Meta's `validation_errors` (line, column, path).
 * Meta checks more (component properties per version, character limits); these are the ones a flow most often fails.
 */

/**
 * Flow JSON versions accepted by default (Meta's changelog; older ones are frozen then expire). Configurable because
 * Meta retires versions over time: pass `versions` to follow a newer list.
 */
export const DEFAULT_FLOW_JSON_VERSIONS = [
  '3.1',
  '4.0',
  '5.0',
  '5.1',
  '6.0',
  '6.1',
  '6.2',
  '6.3',
  '7.0',
  '7.1',
  '7.2',
] as const;

/** The only data API version Meta documents for endpoints. */
export const DATA_API_VERSIONS = ['3.0'] as const;

export interface FlowJsonScreen {
  id: string;
  title?: string;
  terminal?: boolean;
  success?: boolean;
  refresh_on_back?: boolean;
  data?: Record<string, DataDeclaration>;
  layout: { type: string; children: unknown[] };
}

export interface DataDeclaration {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  __example__?: unknown;
  items?: DataDeclaration;
  properties?: Record<string, DataDeclaration>;
}

export interface FlowJson {
  version: string;
  data_api_version?: string;
  routing_model?: Record<string, string[]>;
  screens: FlowJsonScreen[];
}

export interface FlowJsonCheck {
  /** The parsed flow when the text was JSON (even with errors). */
  flow: FlowJson | undefined;
  errors: FlowValidationError[];
}

const SCREEN_ID = /^[A-Za-z_]+$/;
const DATA_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array']);
/** Meta caps branches per screen in the routing model. */
const MAX_ROUTES_PER_SCREEN = 10;

/** Does `value` match a declared type (recursively for arrays' `items` and objects' `properties`)? */
export function matchesDeclaration(value: unknown, decl: DataDeclaration): boolean {
  switch (decl.type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return (
        Array.isArray(value) &&
        (!decl.items || value.every((v) => matchesDeclaration(v, decl.items as DataDeclaration)))
      );
    case 'object':
      if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
      return Object.entries(decl.properties ?? {}).every(
        ([k, d]) =>
          (value as Record<string, unknown>)[k] === undefined ||
          matchesDeclaration((value as Record<string, unknown>)[k], d),
      );
    default:
      return false;
  }
}

/**
 * What is wrong with the data an endpoint sent for a screen: every declared field must be present with its declared
 * type (the WhatsApp client cannot render the screen otherwise). Empty when it fits.
 */
export function checkScreenData(flow: FlowJson, screenId: string, data: unknown): string[] {
  const screen = flow.screens.find((s) => s.id === screenId);
  if (!screen) return [`screen ${screenId} does not exist in the Flow JSON`];
  if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    return [`data for ${screenId} must be an object`];
  }
  const given = (data ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, decl] of Object.entries(screen.data ?? {})) {
    if (!(name in given)) problems.push(`${screenId}.data.${name} is declared (${decl.type}) but missing`);
    else if (!matchesDeclaration(given[name], decl)) {
      problems.push(
        `${screenId}.data.${name} must be ${decl.type}, got ${JSON.stringify(given[name])?.slice(0, 60)}`,
      );
    }
  }
  return problems;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks a Flow JSON text against the rules that need no server. */
export function validateFlowJson(
  text: string,
  options: { versions?: readonly string[] } = {},
): FlowJsonCheck {
  let doc: PositionedJson;
  try {
    doc = parseWithPositions(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    return {
      flow: undefined,
      errors: [
        { error: 'INVALID_JSON', error_type: 'JSON_SCHEMA_ERROR', message: error.message, ...error.position },
      ],
    };
  }
  const errors: FlowValidationError[] = [];
  const add = (error: string, message: string, path: string) => {
    const pos = doc.at(path);
    errors.push({ error, error_type: 'FLOW_JSON_ERROR', message, ...pos, pointers: [{ ...pos, path }] });
  };
  const root = doc.value;
  if (!isObject(root)) {
    add('INVALID_PROPERTY_VALUE', 'The Flow JSON must be an object.', '');
    return { flow: undefined, errors };
  }
  const versions = options.versions ?? DEFAULT_FLOW_JSON_VERSIONS;
  if (typeof root.version !== 'string')
    add('MISSING_REQUIRED_PROPERTY', "Missing required property 'version'.", '');
  else if (!versions.includes(root.version)) {
    add(
      'INVALID_FLOW_JSON_VERSION',
      `Flow JSON version '${root.version}' is not supported (use one of ${versions.join(', ')}).`,
      'version',
    );
  }
  if (!Array.isArray(root.screens) || root.screens.length === 0) {
    add(
      'MISSING_REQUIRED_PROPERTY',
      "Property 'screens' must be a non-empty array.",
      root.screens === undefined ? '' : 'screens',
    );
    return { flow: undefined, errors };
  }
  const screens = root.screens as unknown[];
  const ids = new Set<string>();
  const terminal = new Set<string>();
  for (const [n, s] of screens.entries()) {
    const at = `screens[${n}]`;
    if (!isObject(s)) {
      add('INVALID_PROPERTY_VALUE', 'A screen must be an object.', at);
      continue;
    }
    if (typeof s.id !== 'string') add('MISSING_REQUIRED_PROPERTY', "Missing required property 'id'.", at);
    else if (!SCREEN_ID.test(s.id))
      add('INVALID_SCREEN_ID', `Screen id '${s.id}' may only contain letters and underscores.`, `${at}.id`);
    else if (s.id === 'SUCCESS')
      add('RESERVED_SCREEN_ID', "'SUCCESS' is reserved and cannot be a screen id.", `${at}.id`);
    else if (ids.has(s.id))
      add('DUPLICATE_SCREEN_ID', `Screen id '${s.id}' is used more than once.`, `${at}.id`);
    else ids.add(s.id);
    if (s.terminal === true && typeof s.id === 'string') terminal.add(s.id);
  }
  if (terminal.size === 0)
    add('MISSING_TERMINAL_SCREEN', 'At least one screen must have "terminal": true.', 'screens');
  for (const [n, s] of screens.entries()) if (isObject(s)) checkScreen(s, `screens[${n}]`, ids, add);
  checkRouting(root, ids, add);
  return { flow: root as unknown as FlowJson, errors };
}

type Add = (error: string, message: string, path: string) => void;

function checkScreen(s: Record<string, unknown>, at: string, ids: Set<string>, add: Add): void {
  const declared = new Set<string>();
  if (s.data !== undefined) {
    if (!isObject(s.data)) add('INVALID_PROPERTY_VALUE', "Property 'data' must be an object.", `${at}.data`);
    else
      for (const [name, decl] of Object.entries(s.data)) {
        const p = `${at}.data.${name}`;
        declared.add(name);
        if (!isObject(decl) || typeof decl.type !== 'string' || !DATA_TYPES.has(decl.type)) {
          add(
            'INVALID_DATA_DECLARATION',
            `Data '${name}' needs a type (string, number, integer, boolean, object or array).`,
            p,
          );
        } else if (!('__example__' in decl)) {
          add('MISSING_REQUIRED_PROPERTY', `Data '${name}' needs an '__example__'.`, p);
        } else if (!matchesDeclaration(decl.__example__, decl as unknown as DataDeclaration)) {
          add(
            'INVALID_PROPERTY_VALUE',
            `The '__example__' of '${name}' is not a ${decl.type}.`,
            `${p}.__example__`,
          );
        }
      }
  }
  const layout = s.layout;
  if (!isObject(layout)) {
    add('MISSING_REQUIRED_PROPERTY', "Missing required property 'layout'.", at);
    return;
  }
  if (layout.type !== 'SingleColumnLayout') {
    add('INVALID_PROPERTY_VALUE', "Layout type must be 'SingleColumnLayout'.", `${at}.layout.type`);
  }
  if (!Array.isArray(layout.children)) {
    add('MISSING_REQUIRED_PROPERTY', "Layout needs a 'children' array.", `${at}.layout`);
    return;
  }
  let footer = false;
  const walk = (node: unknown, path: string): void => {
    if (typeof node === 'string') {
      for (const m of node.matchAll(/\$\{data\.([A-Za-z0-9_]+)/g)) {
        if (!declared.has(m[1] as string)) {
          add('INVALID_DATA_REFERENCE', `'\${data.${m[1]}}' is not declared in the screen's data.`, path);
        }
      }
      return;
    }
    if (Array.isArray(node)) {
      for (const [k, v] of node.entries()) walk(v, `${path}[${k}]`);
      return;
    }
    if (!isObject(node)) return;
    if (node.type === 'Footer') footer = true;
    for (const [k, v] of Object.entries(node)) {
      if (k.endsWith('-action') && isObject(v)) checkAction(v, `${path}.${k}`, s, ids, add);
      walk(v, `${path}.${k}`);
    }
  };
  walk(layout.children, `${at}.layout.children`);
  if (s.terminal === true && !footer) {
    add('MISSING_FOOTER', `Terminal screen '${String(s.id)}' must have a Footer component.`, `${at}.layout`);
  }
}

function checkAction(
  a: Record<string, unknown>,
  path: string,
  s: Record<string, unknown>,
  ids: Set<string>,
  add: Add,
): void {
  if (a.name === 'navigate') {
    const next = isObject(a.next) ? a.next : undefined;
    if (!next || typeof next.name !== 'string')
      add('MISSING_REQUIRED_PROPERTY', "navigate needs 'next.name'.", path);
    else if (!ids.has(next.name))
      add(
        'INVALID_NAVIGATION',
        `navigate goes to '${next.name}', which is not a screen.`,
        `${path}.next.name`,
      );
  } else if (a.name === 'complete' && s.terminal !== true) {
    add('INVALID_ACTION', "The 'complete' action is only allowed on a terminal screen.", `${path}.name`);
  } else if (!['navigate', 'complete', 'data_exchange', 'update_data', 'open_url'].includes(String(a.name))) {
    add('INVALID_PROPERTY_VALUE', `Unknown action '${String(a.name)}'.`, `${path}.name`);
  }
}

function checkRouting(root: Record<string, unknown>, ids: Set<string>, add: Add): void {
  const dataApi = root.data_api_version;
  if (dataApi !== undefined && !DATA_API_VERSIONS.includes(dataApi as '3.0')) {
    add(
      'INVALID_DATA_API_VERSION',
      `data_api_version '${String(dataApi)}' is not supported (use 3.0).`,
      'data_api_version',
    );
  }
  const rm = root.routing_model;
  if (dataApi !== undefined && rm === undefined) {
    add('MISSING_REQUIRED_PROPERTY', "A flow with data_api_version needs a 'routing_model'.", '');
    return;
  }
  if (rm === undefined) return;
  if (!isObject(rm)) {
    add(
      'INVALID_PROPERTY_VALUE',
      "'routing_model' must map screen ids to arrays of screen ids.",
      'routing_model',
    );
    return;
  }
  for (const [from, to] of Object.entries(rm)) {
    const p = `routing_model.${from}`;
    if (!ids.has(from))
      add('INVALID_ROUTING_MODEL', `routing_model names '${from}', which is not a screen.`, p);
    if (!Array.isArray(to)) {
      add('INVALID_ROUTING_MODEL', `routing_model.${from} must be an array of screen ids.`, p);
      continue;
    }
    if (to.length > MAX_ROUTES_PER_SCREEN)
      add('INVALID_ROUTING_MODEL', `'${from}' has more than ${MAX_ROUTES_PER_SCREEN} routes.`, p);
    for (const [k, t] of to.entries()) {
      if (typeof t !== 'string' || !ids.has(t))
        add(
          'INVALID_ROUTING_MODEL',
          `routing_model.${from} goes to '${String(t)}', which is not a screen.`,
          `${p}[${k}]`,
        );
      else if (t === from) add('INVALID_ROUTING_MODEL', `'${from}' cannot route to itself.`, `${p}[${k}]`);
    }
  }
}
