import { describe, expect, it } from 'vitest';
import { EmulatorState } from './state.js';

describe('state file: groups, calls and QR codes survive a restart', () => {
  it('round-trips through toJSON/fromJSON, and older files without them load empty', () => {
    const s = new EmulatorState();
    s.groups.set('g1', {
      id: 'g1',
      phoneNumberId: 'p1',
      requestId: 'r1',
      subject: 'Team',
      description: '',
      joinApprovalMode: 'approval_required',
      createdAtMs: 1,
      participants: ['16505550001'],
      inviteCode: 'abc',
      joinRequests: [{ id: 'j1', waId: '16505550002', createdAtMs: 2 }],
      suspended: false,
    });
    s.qrCodes.set('ABCDEFGHIJKLMN', {
      id: 'ABCDEFGHIJKLMN',
      phoneNumberId: 'p1',
      prefilledMessage: 'hi',
      createdAtMs: 3,
    });
    const back = EmulatorState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    expect(back.groups.get('g1')).toEqual(s.groups.get('g1'));
    expect(back.qrCodes.get('ABCDEFGHIJKLMN')?.prefilledMessage).toBe('hi');
    const old = { ...s.toJSON() } as Record<string, unknown>;
    delete old.groups;
    delete old.calls;
    delete old.qrCodes;
    const loaded = EmulatorState.fromJSON(old);
    expect(loaded.groups.size + loaded.calls.size + loaded.qrCodes.size).toBe(0);
    expect(() => EmulatorState.fromJSON({ ...old, groups: 'nope' })).toThrow(/groups/);
  });
});
