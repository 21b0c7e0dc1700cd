#!/usr/bin/env node
// The `omni-emotion` executable: lets Node load the TypeScript sources through tsx, then runs
// the CLI. It exits explicitly because Dawn (the WebGPU binding) keeps native threads alive
// that would otherwise hold the process open after the work is done.
import { register } from 'tsx/esm/api';

register();

let code;
try {
  const { main } = await import('./main.ts');
  code = await main(process.argv.slice(2));
} catch (e) {
  // main reports every error itself; this is a failure to load it at all.
  process.stderr.write(`omni-emotion: internal error (a bug, please report it):\n${e?.stack ?? e}\n`);
  code = 70;
}
process.exitCode = code;
// Exit once what was written has been handed to the OS (pipes are asynchronous on some platforms).
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
