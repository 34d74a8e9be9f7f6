// Types for broker-memory.js (plain JS, run by node directly), so the TypeScript test can import it.
import type { Readable } from 'node:stream';
import type { BenchRow } from './support/report.js';
export const title: string;
export const GROWTH_BUDGET: string;
export function procMemory(pid: number, field: string): number | undefined;
export function mediaUpload(bytes: number): { contentType: string; length: number; body: () => Readable };
export function run(options?: {
  quick?: boolean;
  uploads?: number;
  megabytes?: number;
  sinkMbPerSecond?: number;
}): Promise<{ rows: BenchRow[]; notes: string[] }>;
