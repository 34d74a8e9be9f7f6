/**
 * The one polling helper of the tests. Tests wait on conditions, with generous deadlines: no fixed sleep decides an
 * assertion, and the deadline only keeps a broken build from hanging (nothing is timed by it).
 */

/**
 * Polls `check` until it gives a value (anything but `undefined`) and returns it; rejects naming `what` after
 * `timeoutMs`.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `predicate` until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<void> {
  await until(what, async () => ((await predicate()) ? true : undefined), timeoutMs, everyMs);
}
