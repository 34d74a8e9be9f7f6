// Types for report.js (plain JS, run by node directly), so the TypeScript unit test can import it.
export interface BenchRow {
  name: string;
  value: number | string;
  unit?: string;
  ratio?: number;
  budget?: string | number;
  pass?: boolean;
  note?: string;
  section?: string;
  sectionId?: string;
}
export interface BenchSection {
  id: string;
  title: string;
  rows?: BenchRow[];
  notes?: string[];
  error?: string;
  seconds?: number;
}
export interface BenchMeta {
  date: string;
  machine: string;
  node: string;
  commit?: string;
  quick?: boolean;
  loadBefore: string;
  loadAfter: string;
  busy?: boolean;
  command: string;
  chart?: string;
}
export function median(xs: number[]): number;
export function percentile(xs: number[], p: number): number;
export function ratio(value: number, base: number): number;
export function parseBudget(budget: unknown): { op: '>=' | '<='; target: number } | undefined;
export function meets(value: number, budget: unknown): boolean | undefined;
export function budgetRow(name: string, value: number, unit: string, budget: string, note?: string): BenchRow;
export function formatValue(value: unknown, unit?: string): string;
export function rowsTable(rows: BenchRow[]): string;
export function budgetRows(
  sections: BenchSection[],
): Array<BenchRow & { section: string; sectionId: string }>;
export function renderMarkdown(meta: BenchMeta, sections: BenchSection[]): string;
export function renderConsole(section: BenchSection): string;
export function renderBudgetSvg(rows: BenchRow[], options?: { title?: string; subtitle?: string }): string;
