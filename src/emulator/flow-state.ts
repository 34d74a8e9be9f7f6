import type { FlowValidationError } from '../flows/management-api.js';

/** A flow on a WABA (Meta's Flows API): its metadata, its Flow JSON asset and what validating it found. */
export interface FlowRecord {
  id: string;
  wabaId: string;
  name: string;
  categories: string[];
  status: 'DRAFT' | 'PUBLISHED' | 'DEPRECATED' | 'BLOCKED' | 'THROTTLED';
  endpointUri: string | undefined;
  /** The app whose secret signs the endpoint requests (the app that created the flow, or `application_id`). */
  applicationId: string;
  /** The uploaded Flow JSON, as uploaded (positions in validation errors refer to this text). */
  json: string | undefined;
  validationErrors: FlowValidationError[];
  /** Random part of the preview URL; `invalidate(true)` replaces it. */
  previewToken: string;
  previewExpiresAtMs: number;
  createdAtMs: number;
  /** Endpoint requests the emulated client made, for `metric` (per virtual day, `YYYY-MM-DD`). */
  endpointStats: Record<string, { requests: number; errors: number; latencyMsTotal: number }>;
}

/** The business public key set on a phone number (`whatsapp_business_encryption`). */
export interface FlowKeyRecord {
  phoneNumberId: string;
  publicKeyPem: string;
  setAtMs: number;
}
