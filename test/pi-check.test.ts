// doctor's `pi` check: the version from the package the `pi` command belongs to, without starting pi.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { piCheck } from "../src/components/pi/check.ts";
import type { DoctorContext } from "../src/core/check.ts";
import { REPO_ROOT } from "./helpers/cli.ts";

const check = (PATH: string) => piCheck.run({ env: { PATH } } as unknown as DoctorContext);

describe("doctor's pi check", () => {
  it("reads the version of the npm package the pi command belongs to", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules/@mariozechner/pi-coding-agent/package.json"), "utf8"));
    expect(await check(join(REPO_ROOT, "node_modules/.bin"))).toMatchObject({ status: "ok", message: `pi ${version} is installed` });
  });

  it("asks pi itself when the command is not part of an npm package", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-pi-"));
    writeFileSync(join(dir, "pi"), '#!/bin/sh\n[ "$1" = --version ] && echo 9.9.9\n');
    chmodSync(join(dir, "pi"), 0o755);
    expect(await check(`${dir}:/usr/bin:/bin`)).toMatchObject({ status: "ok", message: "pi 9.9.9 is installed" });
  });

  it("says how to install pi when it is not on PATH", async () => {
    expect(await check(mkdtempSync(join(tmpdir(), "gw-nopi-")))).toMatchObject({ status: "warn", fix: "npm install -g @mariozechner/pi-coding-agent" });
  });
});
