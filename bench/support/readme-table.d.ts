// Types for readme-table.js (plain JS, run by node directly), so the TypeScript test can import it.
export const BEGIN_MARKER: string;
export const END_MARKER: string;
export interface ParsedRow {
  name: string;
  value: string;
  ratio: string;
  budget: string;
  met: string;
  note: string;
}
export interface ParsedResults {
  meta: {
    date: string;
    machine: string;
    node: string;
    commit?: string;
    quick: boolean;
    provisional: boolean;
  };
  sections: Map<string, { title: string; rows: Map<string, ParsedRow> }>;
}
export interface ReadmeRowSpec {
  what: string;
  against: string;
  section: string;
  measurements: string[];
  detail?: { label: string; measurements: string[] };
}
export const README_ROWS: ReadmeRowSpec[];
export function tableCells(line: string): string[];
export function parseResults(markdown: string): ParsedResults;
export function readmeRow(
  parsed: ParsedResults,
  spec: ReadmeRowSpec,
): { what: string; against: string; measured: string; budget: string };
export function renderReadmeBlock(parsed: ParsedResults, specs?: ReadmeRowSpec[]): string;
export function replaceReadmeBlock(readme: string, block: string): string;
export function currentReadmeBlock(readme: string): string | undefined;
