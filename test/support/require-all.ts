/**
 * `.ci/run` sets WACLOUD_TEST_REQUIRE_ALL=1: a test that would be skipped because a service or tool is missing
 * (PostgreSQL, Redis, Chromium, root for a private PostgreSQL cluster, a built dist/) fails instead, so a green CI run
 * means everything ran. Without it (a local run) the test is skipped with one printed line.
 */
export const requireAll = process.env.WACLOUD_TEST_REQUIRE_ALL === '1';

const announced = new Set<string>();

/** Prints `[file] why: what skipped` once; throws instead under WACLOUD_TEST_REQUIRE_ALL=1. */
export function announceSkip(file: string, what: string, why: string): void {
  if (requireAll)
    throw new Error(
      `[${file}] ${what} cannot run: ${why} (WACLOUD_TEST_REQUIRE_ALL=1, as in CI, does not allow skipping them)`,
    );
  const line = `[${file}] ${why}: ${what} skipped`;
  if (announced.has(line)) return;
  announced.add(line);
  console.log(line);
}
