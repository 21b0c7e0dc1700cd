/**
 * Runs an example's entry point when its file is the script node was started with (not when a
 * CLI verb imports it): exit 0 when it finishes, one line on stderr and exit 1 when it fails.
 */
export function runIfMain(moduleUrl: string, label: string, main: () => Promise<void>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(`${label}: ${e instanceof Error ? e.message : e}`);
      process.exit(1);
    },
  );
}
