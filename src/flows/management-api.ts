import { ValidationError } from '../core/errors.js';
import type { GraphClient } from '../graph/graph-client.js';

/**
 * `wa.flows`: the Flows management API (Meta, "Flows API" reference): flows live on a WABA, the Flow JSON is an
 * asset of the flow, and the business public key used by Flow endpoints is set per phone number.
 */

export type FlowCategory =
  | 'SIGN_UP'
  | 'SIGN_IN'
  | 'APPOINTMENT_BOOKING'
  | 'LEAD_GENERATION'
  | 'CONTACT_US'
  | 'CUSTOMER_SUPPORT'
  | 'SURVEY'
  | 'OTHER';

export const FLOW_CATEGORIES: readonly FlowCategory[] = [
  'SIGN_UP',
  'SIGN_IN',
  'APPOINTMENT_BOOKING',
  'LEAD_GENERATION',
  'CONTACT_US',
  'CUSTOMER_SUPPORT',
  'SURVEY',
  'OTHER',
];

export type FlowStatus = 'DRAFT' | 'PUBLISHED' | 'DEPRECATED' | 'BLOCKED' | 'THROTTLED';

/** A position in the uploaded Flow JSON (1-based lines and columns, as Meta reports them). */
export interface FlowJsonPosition {
  line_start: number;
  line_end: number;
  column_start: number;
  column_end: number;
}

/** One of Meta's `validation_errors`: what is wrong and where in the Flow JSON. */
export interface FlowValidationError extends Partial<FlowJsonPosition> {
  error: string;
  error_type: string;
  message: string;
  pointers?: Array<FlowJsonPosition & { path: string }>;
}

export interface Flow {
  id: string;
  name?: string;
  status?: FlowStatus;
  categories?: FlowCategory[];
  validation_errors?: FlowValidationError[];
  json_version?: string;
  data_api_version?: string;
  endpoint_uri?: string;
  preview?: { preview_url: string; expires_at: string };
  whatsapp_business_account?: { id: string; [key: string]: unknown };
  application?: { id: string; [key: string]: unknown };
  health_status?: FlowHealthStatus;
  [key: string]: unknown;
}

export interface FlowHealthStatus {
  can_send_message: 'AVAILABLE' | 'LIMITED' | 'BLOCKED';
  entities: Array<{ entity_type: string; id: string; can_send_message: string; [key: string]: unknown }>;
}

export type FlowMetricName =
  | 'ENDPOINT_REQUEST_COUNT'
  | 'ENDPOINT_REQUEST_ERROR'
  | 'ENDPOINT_REQUEST_ERROR_RATE'
  | 'ENDPOINT_REQUEST_LATENCY_SECONDS_CEIL'
  | 'ENDPOINT_AVAILABILITY';

export interface FlowMetric {
  name: FlowMetricName;
  granularity: 'DAY' | 'HOUR' | 'LIFETIME';
  data_points: Array<{ timestamp: string; data: Array<{ key: string; value: number }> }>;
}

export interface FlowAsset {
  name: string;
  asset_type: 'FLOW_JSON';
  download_url: string;
}

export interface BusinessPublicKey {
  business_public_key: string;
  /** `VALID` once Meta has checked the key's signature; `MISMATCH` otherwise. */
  business_public_key_signature_status: 'VALID' | 'MISMATCH';
}

interface Paged<T> {
  data: T[];
  paging?: { cursors?: { before?: string; after?: string }; next?: string };
}

const ID = /^\d{1,32}$/;

function id(value: string, field: string): string {
  if (typeof value !== 'string' || !ID.test(value)) throw new ValidationError('is not a numeric id', field);
  return value;
}

function checkCategories(categories: readonly string[] | undefined, required: boolean): void {
  if (categories === undefined) {
    if (required) throw new ValidationError('needs at least one category', 'flow.categories');
    return;
  }
  if (!Array.isArray(categories) || categories.length === 0) {
    throw new ValidationError('needs at least one category', 'flow.categories');
  }
  for (const c of categories) {
    if (!FLOW_CATEGORIES.includes(c as FlowCategory)) {
      throw new ValidationError(`"${c}" is not one of ${FLOW_CATEGORIES.join(', ')}`, 'flow.categories');
    }
  }
}

function checkEndpointUri(uri: string | undefined): void {
  if (uri === undefined) return;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new ValidationError('is not a URL', 'flow.endpoint_uri');
  }
  // Meta calls endpoints over HTTPS only; loopback http is allowed for local development against the emulator.
  if (
    u.protocol !== 'https:' &&
    !(u.protocol === 'http:' && /^(127\.0\.0\.1|localhost|\[::1\])$/.test(u.hostname))
  ) {
    throw new ValidationError('must be an https URL', 'flow.endpoint_uri');
  }
}

function jsonText(flowJson: string | object): string {
  if (typeof flowJson === 'string') return flowJson;
  return JSON.stringify(flowJson, null, 2);
}

/** One line per validation error: `line 3, column 5: <message> (<error>)`, for CLIs and logs. */
export function formatFlowValidationErrors(errors: readonly FlowValidationError[]): string[] {
  return errors.map((e) => {
    const where = e.line_start !== undefined ? `line ${e.line_start}, column ${e.column_start ?? 1}: ` : '';
    return `${where}${e.message} (${e.error})`;
  });
}

export class FlowsApi {
  constructor(
    private readonly graph: GraphClient,
    private readonly waba: () => string | undefined,
    private readonly sender: () => string,
  ) {}

  #waba(override?: string): string {
    const w = override ?? this.waba();
    if (!w) {
      throw new ValidationError(
        'is required for this call: set WA_BUSINESS_ACCOUNT_ID or pass businessAcctId',
        'businessAcctId',
      );
    }
    return id(w, 'businessAcctId');
  }

  /** `POST /{waba}/flows`. With `flow_json` the answer carries the `validation_errors` of that JSON. */
  async create(flow: {
    name: string;
    categories: FlowCategory[];
    clone_flow_id?: string;
    endpoint_uri?: string;
    flow_json?: string | object;
    publish?: boolean;
    wabaId?: string;
  }): Promise<{ id: string; success?: boolean; validation_errors?: FlowValidationError[] }> {
    if (typeof flow.name !== 'string' || flow.name.trim() === '')
      throw new ValidationError('is required', 'flow.name');
    checkCategories(flow.categories, true);
    checkEndpointUri(flow.endpoint_uri);
    const { wabaId, flow_json, ...rest } = flow;
    const body: Record<string, unknown> = { ...rest };
    if (flow.clone_flow_id !== undefined) id(flow.clone_flow_id, 'flow.clone_flow_id');
    if (flow_json !== undefined) body.flow_json = jsonText(flow_json);
    return this.graph.post(`${this.#waba(wabaId)}/flows`, body);
  }

  /** `GET /{waba}/flows`. */
  async list(
    query: { fields?: string; limit?: number; after?: string; wabaId?: string } = {},
  ): Promise<Paged<Flow>> {
    const { wabaId, ...q } = query;
    return this.graph.get(`${this.#waba(wabaId)}/flows`, q);
  }

  /** `GET /{flow-id}` with `fields` (e.g. `['name', 'status', 'validation_errors', 'json_version']`). */
  async get(flowId: string, fields?: readonly string[] | string): Promise<Flow> {
    const f = Array.isArray(fields) ? fields.join(',') : (fields as string | undefined);
    return this.graph.get(id(flowId, 'flowId'), f ? { fields: f } : undefined);
  }

  /** `POST /{flow-id}`: name, categories, endpoint URI or the connected app. */
  async updateMetadata(
    flowId: string,
    update: { name?: string; categories?: FlowCategory[]; endpoint_uri?: string; application_id?: string },
  ): Promise<{ success: boolean }> {
    if (Object.keys(update).length === 0) throw new ValidationError('nothing to update', 'update');
    checkCategories(update.categories, false);
    checkEndpointUri(update.endpoint_uri);
    if (update.application_id !== undefined) id(update.application_id, 'update.application_id');
    return this.graph.post(id(flowId, 'flowId'), update);
  }

  /**
   * `POST /{flow-id}/assets`: uploads the Flow JSON (multipart `file`, `name=flow.json`, `asset_type=FLOW_JSON`).
   * The answer's `validation_errors` say what Meta refused, with line and column (see {@link formatFlowValidationErrors}).
   */
  async uploadJson(
    flowId: string,
    flowJson: string | object,
  ): Promise<{ success: boolean; validation_errors: FlowValidationError[] }> {
    const text = jsonText(flowJson);
    const out = await this.graph.request<{ success: boolean; validation_errors?: FlowValidationError[] }>({
      method: 'POST',
      path: `${id(flowId, 'flowId')}/assets`,
      multipart: [
        { name: 'name', value: 'flow.json' },
        { name: 'asset_type', value: 'FLOW_JSON' },
        {
          name: 'file',
          filename: 'flow.json',
          contentType: 'application/json',
          data: Buffer.from(text, 'utf8'),
        },
      ],
    });
    return { ...out.data, validation_errors: out.data.validation_errors ?? [] };
  }

  /** `GET /{flow-id}/assets`: the Flow JSON's download URL. */
  async assets(flowId: string): Promise<Paged<FlowAsset>> {
    return this.graph.get(`${id(flowId, 'flowId')}/assets`);
  }

  /** `POST /{flow-id}/publish`: refused while the Flow JSON has validation errors. Irreversible. */
  async publish(flowId: string): Promise<{ success: boolean }> {
    return this.graph.post(`${id(flowId, 'flowId')}/publish`);
  }

  /** `POST /{flow-id}/deprecate`: a published flow can no longer be sent. */
  async deprecate(flowId: string): Promise<{ success: boolean }> {
    return this.graph.post(`${id(flowId, 'flowId')}/deprecate`);
  }

  /** `DELETE /{flow-id}`: drafts only. */
  async delete(flowId: string): Promise<{ success: boolean }> {
    return this.graph.delete(id(flowId, 'flowId'));
  }

  /** The web preview URL (`fields=preview.invalidate(…)`); `invalidate: true` issues a new link. */
  async preview(
    flowId: string,
    options: { invalidate?: boolean } = {},
  ): Promise<{ preview_url: string; expires_at: string }> {
    const f = await this.graph.get<Flow>(id(flowId, 'flowId'), {
      fields: `preview.invalidate(${options.invalidate === true})`,
    });
    if (!f.preview) throw new ValidationError('Meta returned no preview for this flow', 'flowId');
    return f.preview;
  }

  /** `fields=health_status`: whether the flow can be sent, per entity. */
  async healthStatus(flowId: string): Promise<FlowHealthStatus> {
    const f = await this.graph.get<Flow>(id(flowId, 'flowId'), { fields: 'health_status' });
    return f.health_status as FlowHealthStatus;
  }

  /** Endpoint metrics: `fields=metric.name(…).granularity(…).since(…).until(…)` (dates `YYYY-MM-DD`). */
  async metrics(
    flowId: string,
    query: { name: FlowMetricName; granularity: 'DAY' | 'HOUR' | 'LIFETIME'; since?: string; until?: string },
  ): Promise<FlowMetric> {
    const date = /^\d{4}-\d{2}-\d{2}$/;
    for (const k of ['since', 'until'] as const) {
      if (query[k] !== undefined && !date.test(query[k] as string))
        throw new ValidationError('must be YYYY-MM-DD', k);
    }
    let field = `metric.name(${query.name}).granularity(${query.granularity})`;
    if (query.since) field += `.since(${query.since})`;
    if (query.until) field += `.until(${query.until})`;
    const f = await this.graph.get<{ metric: FlowMetric }>(id(flowId, 'flowId'), { fields: field });
    return f.metric;
  }

  /** `POST /{destination-waba}/migrate_flows`: copies flows (by name, or all) from another WABA of the business. */
  async migrate(options: {
    sourceWabaId: string;
    sourceFlowNames?: string[];
    destinationWabaId?: string;
  }): Promise<{
    migrated_flows: Array<{ source_name: string; source_id: string; migrated_id: string }>;
    failed_flows: Array<{ source_name: string; error_code: string; error_message: string }>;
  }> {
    const body: Record<string, unknown> = { source_waba_id: id(options.sourceWabaId, 'sourceWabaId') };
    if (options.sourceFlowNames) body.source_flow_names = options.sourceFlowNames;
    return this.graph.post(`${this.#waba(options.destinationWabaId)}/migrate_flows`, body);
  }

  /** `POST /{phone-number-id}/whatsapp_business_encryption`: sets the business public key (2048-bit RSA, PEM). */
  async setBusinessPublicKey(publicKeyPem: string, phoneNumberId?: string): Promise<{ success: boolean }> {
    if (!/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/.test(publicKeyPem.trim())) {
      throw new ValidationError(
        'must be a PEM public key (-----BEGIN PUBLIC KEY-----)',
        'business_public_key',
      );
    }
    return this.graph
      .request<{ success: boolean }>({
        method: 'POST',
        path: `${id(phoneNumberId ?? this.sender(), 'phoneNumberId')}/whatsapp_business_encryption`,
        form: { business_public_key: publicKeyPem },
      })
      .then((r) => r.data);
  }

  /** `GET /{phone-number-id}/whatsapp_business_encryption`: the key Meta holds and its signature status. */
  async getBusinessPublicKey(phoneNumberId?: string): Promise<BusinessPublicKey | undefined> {
    const r = await this.graph.get<Paged<BusinessPublicKey>>(
      `${id(phoneNumberId ?? this.sender(), 'phoneNumberId')}/whatsapp_business_encryption`,
    );
    return r.data[0];
  }
}
