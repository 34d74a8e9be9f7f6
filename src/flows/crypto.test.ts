import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  generateKeyPairSync,
  publicEncrypt,
} from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptFlowRequest,
  decryptFlowResponse,
  encryptFlowRequest,
  encryptFlowResponse,
  FlowCryptoError,
  flipInitialVector,
  generateFlowKeyPair,
  loadFlowPrivateKey,
} from './crypto.js';

// Vectors built step by step with Node's own crypto from Meta's documented algorithm (not with the module under test):
// a 16-byte AES key wrapped RSA-OAEP/SHA-256, the JSON under AES-128-GCM with a 16-byte IV, the tag appended.
const pair = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass phrase' },
});
const other = generateFlowKeyPair();
const aesKey = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const iv = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', 'hex');
const plain = { version: '3.0', action: 'INIT', flow_token: 'tok-1' };

function metaRequest(publicKey: string, payload: unknown = plain) {
  const wrapped = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    aesKey,
  );
  const c = createCipheriv('aes-128-gcm', aesKey, iv);
  const data = Buffer.concat([c.update(JSON.stringify(payload)), c.final(), c.getAuthTag()]);
  return {
    encrypted_aes_key: wrapped.toString('base64'),
    encrypted_flow_data: data.toString('base64'),
    initial_vector: iv.toString('base64'),
  };
}

describe('Flow endpoint crypto', () => {
  it('decrypts a request built from the documented algorithm (encrypted PEM + passphrase)', () => {
    const out = decryptFlowRequest(metaRequest(pair.publicKey), pair.privateKey, 'pass phrase');
    expect(out.decryptedBody).toEqual(plain);
    expect(out.aesKey.equals(aesKey)).toBe(true);
    expect(out.initialVector.equals(iv)).toBe(true);
  });

  it('encrypts the response with the same key and the bit-flipped IV, as base64', () => {
    const body = encryptFlowResponse({ screen: 'A', data: { x: 1 } }, aesKey, iv);
    expect(typeof body).toBe('string');
    const raw = Buffer.from(body, 'base64');
    const flipped = Buffer.from(iv.map((b) => b ^ 0xff));
    expect(flipInitialVector(iv).equals(flipped)).toBe(true);
    const d = createDecipheriv('aes-128-gcm', aesKey, flipped);
    d.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]).toString();
    expect(JSON.parse(text)).toEqual({ screen: 'A', data: { x: 1 } });
  });

  it('round-trips through the client half', () => {
    const key = createPrivateKey({ key: pair.privateKey, passphrase: 'pass phrase' });
    const {
      body,
      aesKey: k,
      initialVector,
    } = encryptFlowRequest({ action: 'ping', version: '3.0' }, pair.publicKey);
    const got = decryptFlowRequest(body, [key]);
    expect(got.decryptedBody).toEqual({ action: 'ping', version: '3.0' });
    const answer = encryptFlowResponse({ data: { status: 'active' } }, got.aesKey, got.initialVector);
    expect(decryptFlowResponse(answer, k, initialVector)).toEqual({ data: { status: 'active' } });
  });

  it('tampered ciphertext fails authentication with 421', () => {
    const req = metaRequest(pair.publicKey);
    const bytes = Buffer.from(req.encrypted_flow_data, 'base64');
    bytes[3] = (bytes[3] as number) ^ 0x01;
    const err = catchErr(() =>
      decryptFlowRequest(
        { ...req, encrypted_flow_data: bytes.toString('base64') },
        pair.privateKey,
        'pass phrase',
      ),
    );
    expect(err).toBeInstanceOf(FlowCryptoError);
    expect(err.status).toBe(421);
    expect(err.reason).toBe('decryption_failed');
  });

  it('a request for another key is a 421 (the client re-fetches the public key)', () => {
    const err = catchErr(() =>
      decryptFlowRequest(metaRequest(other.publicKeyPem), pair.privateKey, 'pass phrase'),
    );
    expect(err.status).toBe(421);
    expect(err.reason).toBe('key_mismatch');
  });

  it('during a rotation both keys are accepted', () => {
    const current = loadFlowPrivateKey(other.privateKeyPem);
    const previous = loadFlowPrivateKey(pair.privateKey, 'pass phrase');
    expect(decryptFlowRequest(metaRequest(pair.publicKey), [current, previous]).decryptedBody).toEqual(plain);
    expect(decryptFlowRequest(metaRequest(other.publicKeyPem), [current, previous]).decryptedBody).toEqual(
      plain,
    );
  });

  it('refuses bodies that are not encrypted requests with 400, and never echoes key material', () => {
    for (const bad of [
      'nope',
      '{}',
      { encrypted_aes_key: '!!', encrypted_flow_data: 'AA==', initial_vector: 'AA==' },
      42,
    ]) {
      const err = catchErr(() => decryptFlowRequest(bad, pair.privateKey, 'pass phrase'));
      expect(err.status).toBe(400);
    }
    const wrong = catchErr(() => loadFlowPrivateKey(pair.privateKey, 'wrong'));
    expect(wrong.reason).toBe('bad_key');
    expect(wrong.message).not.toContain('PRIVATE KEY');
    expect(String(other.privateKeyPem)).not.toContain('PRIVATE KEY');
  });
});

function catchErr(fn: () => unknown): FlowCryptoError {
  try {
    fn();
  } catch (error) {
    return error as FlowCryptoError;
  }
  throw new Error('expected a throw');
}
