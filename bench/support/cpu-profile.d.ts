// Types for cpu-profile.js (plain JS, run by node directly), so the TypeScript test can import it.
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber?: number;
}
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame; children?: number[] }>;
  startTime?: number;
  samples: number[];
  timeDeltas: number[];
}
export interface FrameTime {
  key: string;
  ms: number;
  share: number;
}
export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  self: FrameTime[];
  inclusive: FrameTime[];
}
export function frameKey(callFrame: CallFrame): string;
export function summarizeProfile(
  profile: CpuProfile,
  window?: { fromUs?: number; toUs?: number },
): ProfileSummary;
export function profileTables(
  summary: ProfileSummary,
  options?: { n?: number; ours?: (key: string) => boolean },
): string;
