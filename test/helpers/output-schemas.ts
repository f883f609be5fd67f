// The published schemas of doctor's and show's --json outputs (schemas/), as the tests hold real outputs to them:
// each returns the errors, "" when the document conforms, so a failing test shows what does not.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { ROOT } from "./paths.ts";

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = (file: string) => ajv.compile(JSON.parse(readFileSync(join(ROOT, "schemas", file), "utf8")));
const doctorSchema = compiled("doctor-output.schema.json");
const showSchema = compiled("show-output.schema.json");

function errorsOf(validate: typeof doctorSchema, doc: unknown): string {
  if (validate(doc)) return "";
  return ajv.errorsText(validate.errors, { separator: "\n" });
}

/** The errors of `cni doctor --json`'s document against schemas/doctor-output.schema.json. */
export const doctorOutputErrors = (doc: unknown): string => errorsOf(doctorSchema, doc);

/** The errors of `cni show --json`'s document against schemas/show-output.schema.json. */
export const showOutputErrors = (doc: unknown): string => errorsOf(showSchema, doc);
