/** Runs `fn` with the wall clock (Date.now) stepped by `stepMs`, as an NTP step or `date -s` would. */
export async function withWallClockStepped<T>(stepMs: number, fn: () => Promise<T> | T): Promise<T> {
  const real = Date.now;
  Date.now = () => real() + stepMs;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}
