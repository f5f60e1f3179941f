/**
 * The demo's one error type: a message meant for the person running it. The
 * demo exits 1 with it when a step fails, and 2 (`usage`) for bad flags or a
 * directory it will not touch.
 */
export class DemoError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
    this.name = "DemoError";
  }
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined; `DemoError` naming `what` on timeout. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 150,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new DemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
