/**
 * After a clean stop: let the process exit by itself once nothing is left running, and if a handle
 * lingers (the crypto store once kept the event loop spinning for minutes), say so and exit anyway
 * instead of holding the terminal or the service manager.
 */
export function exitWhenDrained(name: string, graceMs = 2_000): void {
  process.exitCode = 0;
  setTimeout(() => {
    process.stderr.write(`${name}: still busy ${graceMs} ms after stopping; exiting anyway\n`);
    process.exit(0);
  }, graceMs).unref();
}
