/**
 * Polls `check` until it gives a value (anything but `undefined`) and returns it; rejects naming `what` after
 * `timeoutMs`. Tests wait on conditions this way, with generous deadlines: no fixed sleep decides an assertion.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
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
