// The call sites compile against the package, and wrong calls do not: the types bind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const tsc = resolve(root, "node_modules/typescript/bin/tsc");

function compile(project: string) {
  const run = spawnSync(process.execPath, [tsc, "-p", project, "--noEmit", "--pretty", "false"], {
    cwd: root,
    encoding: "utf8",
  });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

test("the web app's call sites compile against the package", () => {
  const { code, output } = compile("tsconfig.test.json");
  assert.equal(code, 0, output);
});

test("each deliberately wrong call fails to compile, and nothing else does", () => {
  const file = "test/wrong/calls.ts";
  const marked = readFileSync(resolve(root, file), "utf8")
    .split("\n")
    .flatMap((line, index) => (line.includes("// @wrong") ? [index + 1] : []));
  assert.ok(marked.length >= 10, "the wrong calls are marked");

  const { code, output } = compile("tsconfig.wrong.json");
  assert.notEqual(code, 0, "the wrong calls compiled");
  const failing = new Set(
    [...output.matchAll(/^(.+?)\((\d+),\d+\): error TS\d+/gm)].map(([, path, line]) => {
      assert.equal(path, file, `an error outside the wrong calls:\n${output}`);
      return Number(line);
    }),
  );
  assert.deepEqual([...failing].sort((a, b) => a - b), marked, output);
});
