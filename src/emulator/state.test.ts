import { describe, expect, it } from 'vitest';
import { wamid } from './ids.js';
import { EmulatorState, type SentMessageRecord } from './state.js';

const message = (n: number): SentMessageRecord => ({
  id: `wamid.${n}`,
  phoneNumberId: '1',
  to: '16505551234',
  waId: '16505551234',
  type: 'text',
  body: { n },
  sentAtMs: n,
  status: 'accepted',
  appId: 'a',
});

describe('sent messages', () => {
  it('keeps the newest maxMessages, oldest first, found by id, and survive a state file round trip', () => {
    const state = new EmulatorState(3);
    expect([...state.messages.values()]).toEqual([]);
    for (let n = 1; n <= 5; n++) state.addMessage(message(n));
    expect(state.messages.size).toBe(3);
    expect([...state.messages.values()].map((m) => m.sentAtMs)).toEqual([3, 4, 5]);
    expect(state.messages.get('wamid.4')?.body).toEqual({ n: 4 });
    expect(state.messages.get('wamid.2')).toBeUndefined();
    // A record read back is the stored object: status changes stick.
    const m = state.messages.get('wamid.5') as SentMessageRecord;
    m.status = 'read';
    expect(state.messages.get('wamid.5')?.status).toBe('read');
    const copy = EmulatorState.fromJSON(JSON.parse(JSON.stringify(state)), 2);
    expect([...copy.messages.values()].map((x) => x.id)).toEqual(['wamid.4', 'wamid.5']);
    state.clearMessages();
    expect(state.messages.size).toBe(0);
    expect([...state.messages.values()]).toEqual([]);
    state.addMessage(message(9));
    expect([...state.messages.values()].map((x) => x.id)).toEqual(['wamid.9']);
  });
});

describe('wamid', () => {
  it("is Meta's shape: base64 of 1c 18 <len> <recipient> 15 02 00 11 18 <24> <24 hex> 00", () => {
    const seen = new Set<string>();
    for (const to of ['16505551234', '491511234567', '12345']) {
      const id = wamid(to);
      expect(id).toMatch(/^wamid\.[A-Za-z0-9+/]+=*$/);
      const raw = Buffer.from(id.slice(6), 'base64');
      expect([...raw.subarray(0, 3)]).toEqual([0x1c, 0x18, to.length]);
      expect(raw.subarray(3, 3 + to.length).toString('latin1')).toBe(to);
      const rest = raw.subarray(3 + to.length);
      expect([...rest.subarray(0, 6)]).toEqual([0x15, 0x02, 0x00, 0x11, 0x18, 24]);
      expect(rest.subarray(6, 30).toString('latin1')).toMatch(/^[0-9A-F]{24}$/);
      expect([...rest.subarray(30)]).toEqual([0x00]);
      seen.add(id);
    }
    for (let i = 0; i < 1_000; i++) seen.add(wamid('16505551234'));
    expect(seen.size).toBe(1_003);
  });
});
