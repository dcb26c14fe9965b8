// Validates the CLI's --json documents against the schemas shipped in schemas/.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { REPO_ROOT } from "./cli.ts";

const ajv = new Ajv({ allErrors: true, strict: false });

export function expectSchema(schemaFile: string, document: unknown): void {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, "schemas", schemaFile), "utf8")) as object;
  const validate = ajv.getSchema((schema as { $id: string }).$id) ?? ajv.compile(schema);
  if (!validate(document)) {
    throw new Error(`${schemaFile}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(document, null, 2).slice(0, 2000)}`);
  }
}
