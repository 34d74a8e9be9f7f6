/**
 * `.ci/run` sets WACLOUD_TEST_REQUIRE_ALL=1: a test that would be skipped because a service or tool is missing
 * (PostgreSQL, Redis, Chromium, root for a private PostgreSQL cluster, a built dist/) fails instead, so a green CI run
 * means everything ran. Without it (a local run) the test is skipped with one printed line.
 */
export const requireAll = process.env.WACLOUD_TEST_REQUIRE_ALL === '1';

const announced = new Set<string>();

/** Prints `[file] reason: skipped` once per file; throws instead under WACLOUD_TEST_REQUIRE_ALL=1. */
export function announceSkip(file: string, reason: string): void {
  if (requireAll)
    throw new Error(
      `[${file}] ${reason}; WACLOUD_TEST_REQUIRE_ALL=1 (CI) does not allow skipping these tests`,
    );
  const line = `[${file}] ${reason}: skipped`;
  if (announced.has(line)) return;
  announced.add(line);
  console.log(line);
}
