// `gateway-setup doctor`: a compact checklist (or one JSON document) and an exit code scripts can use.
import pc from "picocolors";
import type { CheckStatus } from "../core/finding.ts";
import { type DoctorReport, DoctorUsageError, runDoctor } from "../doctor/run-doctor.ts";
import { ManifestError } from "../install/manifest.ts";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./exit-codes.ts";
import { writeErrorReport } from "./json-error.ts";

export interface DoctorFlags {
  json?: boolean;
  fix?: boolean;
  only?: string[];
  skip?: string[];
}

const MARKS: Record<CheckStatus, string> = { ok: pc.green("✔"), warn: pc.yellow("▲"), fail: pc.red("✖"), skip: pc.dim("-") };

export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const lines = report.checks.flatMap((check) => [
    `${MARKS[check.status]} ${check.id.padEnd(width)}  ${check.message}`,
    ...(check.fix && check.status !== "ok" ? [`  ${" ".repeat(width)}  ${pc.dim("fix:")} ${check.fix}`] : []),
  ]);
  for (const repair of report.repairs ?? []) lines.push(`${pc.cyan("↻")} ${repair.id.padEnd(width)}  ${repair.result}`);
  const failed = report.checks.filter((c) => c.status === "fail").length;
  const warned = report.checks.filter((c) => c.status === "warn").length;
  lines.push("", failed ? pc.red(`${failed} problem(s) need attention`) : warned ? pc.yellow(`healthy, ${warned} warning(s)`) : pc.green("all healthy"));
  return lines.join("\n");
}

export async function runDoctorCommand(flags: DoctorFlags, env = process.env): Promise<number> {
  let report: DoctorReport;
  try {
    report = await runDoctor({ env, fix: Boolean(flags.fix), ...(flags.only ? { only: flags.only } : {}), ...(flags.skip ? { skip: flags.skip } : {}) });
  } catch (error) {
    const message = error instanceof DoctorUsageError ? error.message : `doctor could not run: ${(error as Error).message}`;
    const fix = error instanceof ManifestError ? error.fix : undefined;
    if (flags.json) writeErrorReport(message, fix);
    else process.stderr.write(`gateway-setup doctor: ${message}\n${fix ? `  fix: ${fix}\n` : ""}`);
    return EXIT_USAGE;
  }
  process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : formatDoctorReport(report) + "\n");
  return report.ok ? EXIT_OK : EXIT_FAILED;
}
