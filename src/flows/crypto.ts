import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { WacloudError } from '../core/errors.js';
import { Secret } from '../core/secret.js';

/**
 * WhatsApp Flows endpoint encryption, as Meta's "Implementing Endpoint for Flows" guide specifies it:
 * - `encrypted_aes_key`: a random AES key wrapped with the business's RSA public key, RSA-OAEP with SHA-256 (and
 *   MGF1-SHA-256), base64;
 * - `encrypted_flow_data`: the request JSON under AES-GCM (AES-128: a 16-byte key) with `initial_vector`, the 16-byte
 *   authentication tag appended, base64;
 * - the response: the same AES key, the IV with every bit flipped, tag appended, base64, sent as the plain body.
 */

/** The three fields of an encrypted Flow endpoint request. */
export interface EncryptedFlowRequest {
  encrypted_aes_key: string;
  encrypted_flow_data: string;
  initial_vector: string;
}

/** A private key: PEM text (a `Secret` or string, optionally passphrase-protected) or a Node `KeyObject`. */
export type FlowPrivateKeyInput = string | Secret | KeyObject;

export interface DecryptedFlowRequest<T = unknown> {
  decryptedBody: T;
  /** Keep for {@link encryptFlowResponse}; never log it. */
  aesKey: Buffer;
  initialVector: Buffer;
}

/**
 * Why a request could not be decrypted or read. `status` is what the endpoint answers: 421 tells the WhatsApp client
 * the key did not fit, so it re-fetches the business public key and retries (Meta: "If the request can not be
 * decrypted, return HTTP 421"); 400 is for a body that is not an encrypted Flow request at all.
 */
export class FlowCryptoError extends WacloudError {
  readonly status: 400 | 421;
  readonly reason: 'malformed_request' | 'key_mismatch' | 'decryption_failed' | 'bad_key';
  constructor(reason: FlowCryptoError['reason'], message: string, options: { cause?: unknown } = {}) {
    super('CRYPTO', message, options);
    this.name = 'FlowCryptoError';
    this.reason = reason;
    this.status = reason === 'malformed_request' ? 400 : 421;
  }
}

const TAG_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value === '' || !BASE64.test(value) || value.length % 4 === 1) {
    throw new FlowCryptoError('malformed_request', `${field} must be a non-empty base64 string`);
  }
  return Buffer.from(value, 'base64');
}

/** Reads a private key once (PEM parsing costs more than the RSA unwrap): pass the result to every call. */
export function loadFlowPrivateKey(key: FlowPrivateKeyInput, passphrase?: string | Secret): KeyObject {
  if (typeof key === 'object' && !(key instanceof Secret)) {
    if (key.type !== 'private') throw new FlowCryptoError('bad_key', 'the key object is not a private key');
    return key;
  }
  const pem = typeof key === 'string' ? key : key.reveal();
  try {
    const pass =
      passphrase === undefined
        ? undefined
        : typeof passphrase === 'string'
          ? passphrase
          : passphrase.reveal();
    const k = createPrivateKey(pass === undefined ? { key: pem } : { key: pem, passphrase: pass });
    if (k.asymmetricKeyType !== 'rsa') throw new Error('not an RSA key');
    return k;
  } catch (error) {
    // The message never quotes the PEM.
    throw new FlowCryptoError(
      'bad_key',
      `the Flow private key could not be read (${error instanceof Error && /passphrase|decrypt/i.test(error.message) ? 'wrong or missing passphrase' : 'not an RSA private key in PEM'})`,
    );
  }
}

/** Parses the request body (bytes, text or parsed JSON) into the three encrypted fields. */
export function readEncryptedFlowRequest(body: unknown): EncryptedFlowRequest {
  let value = body;
  if (value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new FlowCryptoError('malformed_request', 'the body is not JSON');
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new FlowCryptoError('malformed_request', 'the body must be a JSON object');
  }
  const v = value as Record<string, unknown>;
  for (const f of ['encrypted_aes_key', 'encrypted_flow_data', 'initial_vector'] as const) {
    if (typeof v[f] !== 'string') throw new FlowCryptoError('malformed_request', `${f} is missing`);
  }
  return v as unknown as EncryptedFlowRequest;
}

/**
 * Decrypts a Flow endpoint request. Several keys may be given (current first, then a retiring one during a
 * rotation's grace period); the first that unwraps the AES key is used. Throws {@link FlowCryptoError}: status 421
 * when no key fits or the data fails authentication, 400 when the body is not an encrypted request.
 */
export function decryptFlowRequest<T = unknown>(
  body: unknown,
  privateKey: FlowPrivateKeyInput | readonly KeyObject[],
  passphrase?: string | Secret,
): DecryptedFlowRequest<T> {
  const req = readEncryptedFlowRequest(body);
  const wrapped = b64(req.encrypted_aes_key, 'encrypted_aes_key');
  const data = b64(req.encrypted_flow_data, 'encrypted_flow_data');
  const initialVector = b64(req.initial_vector, 'initial_vector');
  if (data.length <= TAG_BYTES) {
    throw new FlowCryptoError('malformed_request', 'encrypted_flow_data is shorter than the GCM tag');
  }
  const keys = Array.isArray(privateKey)
    ? (privateKey as readonly KeyObject[])
    : [loadFlowPrivateKey(privateKey as FlowPrivateKeyInput, passphrase)];
  let aesKey: Buffer | undefined;
  for (const key of keys) {
    try {
      aesKey = privateDecrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrapped,
      );
      break;
    } catch {
      // Try the next key (rotation); none fitting is a 421 below.
    }
  }
  if (!aesKey) {
    throw new FlowCryptoError(
      'key_mismatch',
      'encrypted_aes_key could not be unwrapped with the Flow private key (the client has another public key)',
    );
  }
  if (![16, 24, 32].includes(aesKey.length)) {
    throw new FlowCryptoError('decryption_failed', `the unwrapped AES key has ${aesKey.length} bytes`);
  }
  try {
    const decipher = createDecipheriv(`aes-${aesKey.length * 8}-gcm` as 'aes-128-gcm', aesKey, initialVector);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return { decryptedBody: JSON.parse(plain.toString('utf8')) as T, aesKey, initialVector };
  } catch (error) {
    throw new FlowCryptoError(
      'decryption_failed',
      'encrypted_flow_data failed authentication or is not JSON',
      {
        cause: error instanceof Error ? error.name : undefined,
      },
    );
  }
}

/** Meta: the response IV is the request's with every bit inverted. */
export function flipInitialVector(iv: Uint8Array): Buffer {
  const out = Buffer.alloc(iv.length);
  for (let i = 0; i < iv.length; i++) out[i] = ~(iv[i] as number) & 0xff;
  return out;
}

function gcmEncrypt(plain: Buffer, key: Uint8Array, iv: Uint8Array): string {
  const cipher = createCipheriv(`aes-${key.length * 8}-gcm` as 'aes-128-gcm', key, iv);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

/** Encrypts a response for the WhatsApp client: the body to send, a base64 string (`text/plain`). */
export function encryptFlowResponse(
  response: unknown,
  aesKey: Uint8Array,
  initialVector: Uint8Array,
): string {
  return gcmEncrypt(Buffer.from(JSON.stringify(response), 'utf8'), aesKey, flipInitialVector(initialVector));
}

/**
 * The client's half (what WhatsApp does; the emulator and `wacloud flows test-endpoint` use it): a fresh AES-128 key
 * and 16-byte IV, the key wrapped with the business public key.
 */
export function encryptFlowRequest(
  request: unknown,
  publicKeyPem: string | KeyObject,
): { body: EncryptedFlowRequest; aesKey: Buffer; initialVector: Buffer } {
  const aesKey = randomBytes(16);
  const initialVector = randomBytes(16);
  const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
  const wrapped = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    aesKey,
  );
  return {
    body: {
      encrypted_aes_key: wrapped.toString('base64'),
      encrypted_flow_data: gcmEncrypt(Buffer.from(JSON.stringify(request), 'utf8'), aesKey, initialVector),
      initial_vector: initialVector.toString('base64'),
    },
    aesKey,
    initialVector,
  };
}

/** The client reading the endpoint's answer. Throws {@link FlowCryptoError} when it does not authenticate. */
export function decryptFlowResponse<T = unknown>(
  responseBody: string,
  aesKey: Uint8Array,
  initialVector: Uint8Array,
): T {
  const data = b64(responseBody.trim(), 'response body');
  if (data.length <= TAG_BYTES) throw new FlowCryptoError('decryption_failed', 'the response is too short');
  try {
    const decipher = createDecipheriv(
      `aes-${aesKey.length * 8}-gcm` as 'aes-128-gcm',
      aesKey,
      flipInitialVector(initialVector),
    );
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return JSON.parse(plain.toString('utf8')) as T;
  } catch {
    throw new FlowCryptoError('decryption_failed', 'the response failed authentication or is not JSON');
  }
}

/** A 2048-bit RSA key pair (Meta requires 2048-bit RSA for the business public key), PEM: SPKI and PKCS#8. */
export function generateFlowKeyPair(): { publicKeyPem: string; privateKeyPem: Secret } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: new Secret(privateKey, 'flow-private-key') };
}

/** The public key of a private key, PEM (SPKI), to compare with what Meta holds. */
export function publicKeyOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}
