import { processIo } from './cli-io.js';
import { runCommandLine } from './run.js';

// The `unwrapd` executable (bin/unwrapd.js): this process's command line and exit code. Not a top-level await:
// the module's import settles at once, so a command has the whole process to itself.
void runCommandLine(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
