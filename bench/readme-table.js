// `npm run bench:readme`: rewrites the generated performance table in README.md from bench/results/latest.md
// (`--check` only compares, exit 1 when they disagree). `npm run bench` runs it after a full run.
import { readFileSync, writeFileSync } from 'node:fs';
import {
  currentReadmeBlock,
  parseResults,
  renderReadmeBlock,
  replaceReadmeBlock,
} from './support/readme-table.js';

const readmeUrl = new URL('../README.md', import.meta.url);
const resultsUrl = new URL('./results/latest.md', import.meta.url);

/** Writes (or with `check`, only compares) the README block; returns whether README.md was already up to date. */
export function updateReadme({ check = false } = {}) {
  const readme = readFileSync(readmeUrl, 'utf8');
  const block = renderReadmeBlock(parseResults(readFileSync(resultsUrl, 'utf8')));
  const same = currentReadmeBlock(readme) === block;
  if (!same && !check) writeFileSync(readmeUrl, replaceReadmeBlock(readme, block));
  return same;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const same = updateReadme({ check });
  if (check && !same) {
    console.error(
      'README.md performance table differs from bench/results/latest.md: run npm run bench:readme',
    );
    process.exitCode = 1;
  } else
    console.log(same ? 'README.md performance table is up to date' : 'README.md performance table rewritten');
}
