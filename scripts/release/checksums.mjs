// <file>.sha256 and <file>.sha512 beside each artefact, in sha256sum/sha512sum's format ("<hex>  <name>"), so
// `sha256sum -c cni-….tgz.sha256` run in the folder verifies it.
import { createHash } from "node:crypto";
import { createReadStream, writeFileSync } from "node:fs";
import { basename } from "node:path";

export async function fileDigest(path, algorithm) {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest("hex");
}

export async function writeChecksums(path) {
  for (const alg of ["sha256", "sha512"]) writeFileSync(`${path}.${alg}`, `${await fileDigest(path, alg)}  ${basename(path)}\n`);
}
